// A tiny pure-Python wheel, written byte by byte, for the compatibility suite's local package
// index: no setuptools, no `wheel` package and no network are needed to build it. A wheel is a zip
// (PEP 427) whose RECORD lists every file with its urlsafe-base64 sha256; entries are stored
// uncompressed, which every zip reader accepts. Test-only: never used to ship anything.

import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

export interface WheelFile {
  readonly path: string;
  readonly text: string;
}

export interface Wheel {
  /** The file name pip expects: `{name}-{version}-py3-none-any.whl` (name with `_` for `-`). */
  readonly fileName: string;
  readonly bytes: Buffer;
  /** Hex sha256 of the whole wheel, for the index's `#sha256=` fragment. */
  readonly sha256: string;
}

const recordHash = (data: Buffer): string =>
  `sha256=${createHash('sha256').update(data).digest('base64url')}`;

/** A zip archive of stored (uncompressed) entries (APPNOTE 4.3: local headers, central directory, end record). */
function storedZip(entries: readonly { name: string; data: Buffer }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  // 1980-01-01 00:00, the zip epoch: the wheel is the same bytes on every run.
  const dosTime = 0;
  const dosDate = (0 << 9) | (1 << 5) | 1;
  for (const { name, data } of entries) {
    const nameBytes = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(dosTime, 10);
    local.writeUInt16LE(dosDate, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x031e, 4); // made by: Unix, 3.0
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt16LE(dosTime, 12);
    central.writeUInt16LE(dosDate, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // a regular file, rw-r--r--
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** A `py3-none-any` wheel holding `files` plus its METADATA, WHEEL and RECORD. */
export function pureWheel(name: string, version: string, files: readonly WheelFile[]): Wheel {
  const dist = name.replace(/[-_.]+/g, '_');
  const info = `${dist}-${version}.dist-info`;
  const entries = [
    ...files.map((f) => ({ name: f.path, data: Buffer.from(f.text, 'utf8') })),
    {
      name: `${info}/METADATA`,
      data: Buffer.from(
        `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\nSummary: Perimeter compatibility fixture\n`,
      ),
    },
    {
      name: `${info}/WHEEL`,
      data: Buffer.from(
        'Wheel-Version: 1.0\nGenerator: perimeter-compat\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
      ),
    },
  ];
  const record = [
    ...entries.map((e) => `${e.name},${recordHash(e.data)},${e.data.length}`),
    `${info}/RECORD,,`,
    '',
  ].join('\n');
  const bytes = storedZip([...entries, { name: `${info}/RECORD`, data: Buffer.from(record) }]);
  return {
    fileName: `${dist}-${version}-py3-none-any.whl`,
    bytes,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}
