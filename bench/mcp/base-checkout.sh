#!/bin/sh
# Makes DIR a built checkout of REV that shares this tree's node_modules, for
# `node bench/mcp/ab.mjs --base DIR` (a change against the commit before it, in one run).
#   bench/mcp/base-checkout.sh HEAD /tmp/base
# Packages resolve to DIR's own (node_modules/@perimeter is DIR's); everything else is this tree's.
set -eu
rev=${1:?usage: base-checkout.sh REV DIR}
dir=${2:?usage: base-checkout.sh REV DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$dir"
git -C "$root" worktree prune
git -C "$root" worktree add --detach "$dir" "$rev" >/dev/null
mkdir "$dir/node_modules"
for entry in "$root"/node_modules/* "$root"/node_modules/.bin; do
  name=$(basename "$entry")
  [ "$name" = "@perimeter" ] || ln -s "$entry" "$dir/node_modules/$name"
done
mkdir "$dir/node_modules/@perimeter"
for pkg in "$dir"/packages/*; do ln -s "../../packages/$(basename "$pkg")" "$dir/node_modules/@perimeter/$(basename "$pkg")"; done
cd "$dir"
npx tsc -b
node tools/build-native.mjs
node tools/bundle-cli.mjs
echo "built $rev in $dir"
