#!/usr/bin/env bash
# Builds the Debian package with the standard tools (debhelper, dpkg-buildpackage) from a binary
# already built: packaging/deb.sh BIN GENERATE_MANUAL OUTDIR. `make deb` passes the static,
# stripped finwatch and swift-argument-parser's generate-manual tool.
#
# dpkg-buildpackage writes its results next to the source directory, so the source directory is
# a staging copy under OUTDIR: packaging/debian, the unit and options file with the package's
# paths, the documents, and dist/ with what the argument parser generates from the binary itself
# (man page, bash/zsh/fish completions). Then lintian: no error, and no warning that is not
# overridden with its reason in packaging/debian/finwatch.lintian-overrides.
set -euo pipefail

bin=$(realpath "$1")
generate_manual=$(realpath "$2")
out=$(realpath -m "$3")
top=$(cd "$(dirname "$0")/.." && pwd)

version=$("$bin" --version)
changelog_version=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
if [ "$version" != "$changelog_version" ]; then
    echo "deb.sh: finwatch --version says $version, packaging/debian/changelog says $changelog_version: add a changelog entry" >&2
    exit 1
fi

stage="$out/finwatch-$version"
rm -rf "$stage" "$out"/finwatch_"$version"_*
mkdir -p "$stage/dist/completions" "$stage/dist/doc"
cp -r "$top/packaging/debian" "$stage/debian"

# The tree's unit and documents name /usr/local (make install's PREFIX); the package's are /usr.
sed -e 's#/usr/local/bin/finwatch#/usr/bin/finwatch#g' \
    -e 's#/usr/local/share/doc/finwatch#/usr/share/doc/finwatch#g' \
    -e 's#`make install` overwrites it on upgrade#the package replaces it on upgrade#' \
    "$top/systemd/finwatch.service" > "$stage/debian/finwatch.service"
cp "$top/systemd/finwatch.default" "$stage/debian/finwatch.default"
cp "$top/deploy/logrotate/finwatch" "$stage/debian/finwatch.logrotate"
cp "$top/README.md" "$top"/docs/{operations,alerting,capture,examples,decoding}.md "$stage/dist/doc/"

install -m 0755 "$bin" "$stage/dist/finwatch"
# bash sources its completions: the generated script's #! line is noise there (lintian says so).
"$bin" --generate-completion-script bash | sed '1{/^#!/d}' > "$stage/dist/completions/finwatch"
"$bin" --generate-completion-script zsh > "$stage/dist/completions/_finwatch"
"$bin" --generate-completion-script fish > "$stage/dist/completions/finwatch.fish"
# Section 8: a daemon an administrator runs. The date is the changelog's, so the page does not
# change from one build to the next.
date=$(date -u -d "@$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Timestamp)" +%Y-%m-%d)
"$generate_manual" "$bin" --output-directory "$stage/dist" --section 8 --date "$date" \
    --authors "finwatch maintainers" >/dev/null
[ -s "$stage/dist/finwatch.8" ] || { echo "deb.sh: generate-manual wrote no finwatch.8" >&2; ls "$stage/dist" >&2; exit 1; }

(cd "$stage" && dpkg-buildpackage -b -us -uc --no-sign >"$out/build.log" 2>&1) || {
    tail -40 "$out/build.log" >&2; exit 1; }
deb=$(ls "$out"/finwatch_"$version"_*.deb)

lintian --fail-on error,warning --info "$out"/finwatch_"$version"_*.changes | tee "$out/lintian.txt"
echo "built $deb ($(stat -c %s "$deb") bytes); lintian: $out/lintian.txt"
