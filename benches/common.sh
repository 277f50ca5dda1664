# Sourced by the bench scripts: moves to the repository root, builds the release binary if
# it is missing ($bin), and makes a scratch directory ($work). Each script sets its own trap.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=target/release/soc-copilot
[ -x "$bin" ] || cargo build --release
work=$(mktemp -d)
