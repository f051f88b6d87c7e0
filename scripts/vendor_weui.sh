#!/usr/bin/env bash
# Refresh the vendored WeUI stylesheet (the workbench's look; no CDN at run time).
#   scripts/vendor_weui.sh [VERSION]   default: the version named in static/vendor/weui/README.md
# Needs npm (only `npm pack`, which downloads the package tarball from the registry).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${1:-2.6.26}
DEST=wecom_app/static/vendor/weui
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "weui@$VERSION" >/dev/null && tar xzf "weui-$VERSION.tgz")
mkdir -p "$DEST"
cp "$work/package/dist/style/weui.min.css" "$DEST/weui.min.css"
cp "$work/package/LICENSE.txt" "$DEST/LICENSE.txt"
sed -i "s/^Version: .*/Version: $VERSION/" "$DEST/README.md"
echo "WeUI $VERSION vendored into $DEST"
