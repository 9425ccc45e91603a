#!/usr/bin/env bash
# Fetch the JavaScript the site needs offline (MathJax, the ipywidgets embedder, RequireJS)
# from the npm registry into _vendor/ (git-ignored). Jupyter Book copies _vendor/ into
# _build/html/ as is (html_extra_path in _config.yml), so no page ever asks a CDN.
# Idempotent: does nothing when every file is already there.
set -euo pipefail

MATHJAX=mathjax@3.2.2
HTML_MANAGER=@jupyter-widgets/html-manager@1.0.6
REQUIREJS=requirejs@2.3.7

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vendor="$root/_vendor"

have_all() {
    [[ -s "$vendor/mathjax/tex-chtml-full.js" ]] &&
    compgen -G "$vendor/mathjax/output/chtml/fonts/woff-v2/*.woff" >/dev/null &&
    [[ -s "$vendor/widgets/embed-amd.js" ]] &&
    [[ -s "$vendor/widgets/require.js" ]] &&
    grep -q '"@jupyter-widgets": here' "$vendor/widgets/embed-setup.js" 2>/dev/null &&
    compgen -G "$vendor/widgets/*.woff2" >/dev/null
}

if have_all; then
    echo "vendor: _vendor/ is complete, nothing to fetch"
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "vendor: ERROR: npm is not installed; it is needed once to fetch MathJax and the" >&2
    echo "        widget JavaScript from the npm registry (Debian/Ubuntu: apt-get install npm," >&2
    echo "        or install Node.js from https://nodejs.org)." >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "vendor: npm pack $MATHJAX $HTML_MANAGER $REQUIREJS"
for spec in "$MATHJAX" "$HTML_MANAGER" "$REQUIREJS"; do
    name="${spec%@*}"              # strip the version
    name="${name//@/}"; name="${name//\//-}"
    mkdir -p "$tmp/$name"
    # --loglevel=error hides npm's warnings about unrelated user config keys
    tgz="$(cd "$tmp" && npm pack --silent --loglevel=error "$spec" | tail -n 1)"
    tar -xzf "$tmp/$tgz" -C "$tmp/$name"
done

mathjax_src="$tmp/mathjax/package/es5"
widgets_src="$tmp/jupyter-widgets-html-manager/package/dist"
require_src="$tmp/requirejs/package"

stage="$tmp/_vendor"
mkdir -p "$stage/mathjax/output/chtml/fonts/woff-v2" "$stage/widgets"
cp "$mathjax_src/tex-chtml-full.js" "$stage/mathjax/"
cp "$mathjax_src"/output/chtml/fonts/woff-v2/*.woff "$stage/mathjax/output/chtml/fonts/woff-v2/"
cp "$widgets_src/embed-amd.js" "$stage/widgets/"
cp "$widgets_src"/*.woff2 "$widgets_src"/*.woff "$stage/widgets/"   # FontAwesome for widget icons
cp "$require_src/require.js" "$stage/widgets/"

# embed-setup.js runs between require.js and embed-amd.js (nb_ipywidgets_js in _config.yml):
# 1. embed-amd.js loads its fonts from window.__jupyter_widgets_assets_path__ when set, else
#    relative to the *page* (book/@jupyter-widgets/..., a 404 even from a CDN): point it, and
#    RequireJS's path for the module, at this folder.
# 2. ipywidgets 8 typesets widget labels with MathJax 2's API (MathJax.Hub.Queue); the site runs
#    MathJax 3, so every widget page threw "Cannot read properties of undefined (reading 'Queue')".
#    A small shim forwards those calls to MathJax 3's typesetPromise.
cat > "$stage/widgets/embed-setup.js" <<'JS'
// Written by tools/vendor_js.sh; see the comments there.
(function () {
  var here = document.currentScript.src.replace(/[?#].*$/, "").replace(/\/[^\/]*$/, "");
  // Each module of embed-amd.js ("@jupyter-widgets/base", ".../html-manager/dist/libembed-amd")
  // loads its fonts from the folder of the URL RequireJS gives its name: make that this folder.
  window.require.config({ paths: {
    "@jupyter-widgets": here,
    "@jupyter-widgets/html-manager/dist": here,
  } });
  window.__jupyter_widgets_assets_path__ = here + "/";

  function mathjax2Shim() {
    var MJ = window.MathJax;
    if (!MJ || MJ.Hub) return;  // no MathJax on this page, or a real MathJax 2
    MJ.Hub = {
      Queue: function () {
        var mj = window.MathJax;
        if (!mj.typesetPromise || !mj.startup) return;  // MathJax 3 did not load: nothing to do
        Array.prototype.forEach.call(arguments, function (job) {
          if (Array.isArray(job) && job[0] === "Typeset") {
            mj.startup.promise.then(function () {
              return mj.typesetPromise(job[2] ? [job[2]] : undefined);
            });
          }
        });
      }
    };
  }
  // MathJax is a deferred script: it has run by DOMContentLoaded; widgets render at "load".
  document.addEventListener("DOMContentLoaded", mathjax2Shim);
})();
JS

# Replace _vendor/ in one step, so an interrupted run never leaves half a folder behind.
rm -rf "$vendor"
mv "$stage" "$vendor"
have_all || { echo "vendor: ERROR: _vendor/ incomplete after fetching" >&2; exit 1; }
echo "vendor: wrote $(du -sh "$vendor" | cut -f1) to _vendor/ (mathjax, widgets)"
