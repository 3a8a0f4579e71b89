// The filesystem rules of the effective policies, indexed for lookup: a trie over each pattern's
// literal prefix, and floating patterns (no literal prefix) by segment or extension. Pure.

import type { FilesystemRuleC } from './compile.js';
import { pushTo } from './multimap.js';
import { literalPrefix, type ExpandedPathPattern } from './path-pattern.js';

export interface FsEntry {
  readonly rule: FilesystemRuleC;
  readonly pattern: ExpandedPathPattern;
}

// Patterns with no literal prefix (`**` then `.env`, `*.pem` or `private`) are indexed by one of
// their literal segments, or by a file extension, so a request looks up its own segments instead
// of trying every such pattern.
class FloatingPaths {
  readonly bySegment = new Map<string, FsEntry[]>();
  readonly byExtension = new Map<string, FsEntry[]>();
  readonly rest: FsEntry[] = [];

  insert(entry: FsEntry): void {
    let literal: string | undefined;
    let extension: string | undefined;
    for (const seg of entry.pattern.segments) {
      if (seg.kind === 'literal') literal = seg.text;
      else if (seg.kind === 'glob' && seg.suffix?.startsWith('.') && !seg.suffix.slice(1).includes('.'))
        extension = seg.suffix;
    }
    if (literal !== undefined) pushTo(this.bySegment, literal, entry);
    else if (extension !== undefined) pushTo(this.byExtension, extension, entry);
    else this.rest.push(entry);
  }

  candidates(segments: readonly string[], out: FsEntry[]): void {
    for (const e of this.rest) out.push(e);
    if (this.bySegment.size === 0 && this.byExtension.size === 0) return;
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i] ?? '';
      // A segment seen earlier in the path adds nothing new (no allocation for the check).
      let isRepeat = false;
      for (let k = 0; k < i && !isRepeat; k++) isRepeat = segments[k] === seg;
      if (isRepeat) continue;
      const hit = this.bySegment.get(seg);
      if (hit) for (const e of hit) out.push(e);
      if (this.byExtension.size > 0) {
        const dot = seg.lastIndexOf('.');
        const byExt = dot >= 0 ? this.byExtension.get(seg.slice(dot)) : undefined;
        if (byExt) for (const e of byExt) out.push(e);
      }
    }
  }
}

export class PathTrie {
  readonly children = new Map<string, PathTrie>();
  readonly entries: FsEntry[] = [];
  readonly floating = new FloatingPaths();

  insert(entry: FsEntry): void {
    const prefix = literalPrefix(entry.pattern);
    if (prefix.length === 0) {
      this.floating.insert(entry);
      return;
    }
    let node: PathTrie = this;
    for (const seg of prefix) {
      let next = node.children.get(seg);
      if (!next) {
        next = new PathTrie();
        node.children.set(seg, next);
      }
      node = next;
    }
    node.entries.push(entry);
  }

  candidates(segments: readonly string[], out: FsEntry[]): void {
    this.floating.candidates(segments, out);
    let node: PathTrie | undefined = this;
    let i = 0;
    while (node) {
      if (node.entries.length > 0) out.push(...node.entries);
      const seg = segments[i++];
      node = seg === undefined ? undefined : node.children.get(seg);
    }
  }
}
