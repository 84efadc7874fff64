# Sourced by scripts/dev and scripts/test: where builds go.
#
# A fresh clone (as CI makes for every run) would otherwise start from an empty target/ and
# rebuild everything, llama.cpp included. Builds share one target directory in the per-user
# cache instead; cargo's fingerprints keep it correct across clones. Set CARGO_TARGET_DIR to
# choose another.
agentc_cache="${AGENTC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agentc}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$agentc_cache/target}"
# agentc's build script embeds files of the checkout it runs in (compiler/build.rs); naming the
# checkout makes cargo run it again when another clone builds into the same target directory.
AGENTC_CHECKOUT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export AGENTC_CHECKOUT
