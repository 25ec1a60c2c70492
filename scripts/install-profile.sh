#!/usr/bin/env bash
# Make `snakemake --profile slurm` (and `--profile local`) find this repository's profiles by name.
#
# Snakemake looks a bare profile name up in ./<name>, then $XDG_CONFIG_HOME/snakemake/<name> (default
# ~/.config/snakemake/<name>), then /etc/xdg/snakemake/<name>; it does not search ./profiles/. This links
# $XDG_CONFIG_HOME/snakemake/<name> to profiles/<name> of this checkout. Idempotent; it refuses to replace
# a profile of the same name that is not such a link.
#
#   scripts/install-profile.sh [slurm|local ...]     (default: slurm)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dest=${XDG_CONFIG_HOME:-$HOME/.config}/snakemake
mkdir -p "$dest"
for name in "${@:-slurm}"; do
  src=$repo/profiles/$name
  [ -f "$src/config.yaml" ] || { echo "install-profile: no profile $src/config.yaml" >&2; exit 1; }
  link=$dest/$name
  if [ -e "$link" ] && [ ! -L "$link" ]; then
    echo "install-profile: $link exists and is not a link; move it away or use --profile $src" >&2
    exit 1
  fi
  ln -sfn "$src" "$link"
  echo "install-profile: $link -> $src"
done
