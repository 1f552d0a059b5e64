#!/usr/bin/env bash
# Fetches the emoji images of the built-in tasks (npm package emoji-datasource-google@16.0.0, images Apache-2.0)
# and copies those the task files name into --out, for the jar. The package is downloaded once per machine into the
# taskvec cache and its SHA-256 checked; nothing is committed.
#
#   cmake/fetch-emoji.sh --tasks DIR_WITH_TASK_TSVS --out DIR
set -euo pipefail
version="16.0.0"
sha256="fb5fd131b362aab7a55542d2a147a79708cce0a8b1c1bbacd470172708b5c438"
tasks="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tasks) tasks="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "fetch-emoji: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$tasks" ] && [ -n "$out" ] || { echo "fetch-emoji: --tasks and --out are required" >&2; exit 2; }
cache="${TASKVEC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/taskvec}/npm"
mkdir -p "$cache"
tgz="$cache/emoji-datasource-google-$version.tgz"
if [ ! -f "$tgz" ] || ! echo "$sha256  $tgz" | sha256sum -c --status; then
  rm -f "$tgz"
  (cd "$cache" && npm pack "emoji-datasource-google@$version" --silent > /dev/null)
  echo "$sha256  $tgz" | sha256sum -c --status || { echo "fetch-emoji: SHA-256 mismatch for $tgz" >&2; rm -f "$tgz"; exit 1; }
fi
names="$(cut -f4 "$tasks"/*.tsv | grep -v '^image$' | sort -u)"
mkdir -p "$out"
stamp="$out/.complete-$version-$(echo "$names" | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
members=(package/LICENSE)
for n in $names; do members+=("package/img/google/64/$n"); done
tar -xzf "$tgz" -C "$tmp" "${members[@]}"
cp "$tmp"/package/img/google/64/*.png "$out/"
cp "$tmp/package/LICENSE" "$out/LICENSE-emoji-datasource"
rm -f "$out"/.complete-*
touch "$stamp"
echo "taskvec: $(echo "$names" | wc -l) emoji images for the built-in tasks in $out"
