#!/usr/bin/env bash
# Brain data without the release: a tiny NSD (and a tiny IT recording) in the real layouts, assembled
# into brain stores, inspected, and given noise ceilings. Usage: examples/brain_data.sh [VENTRAL] [WORKDIR]
set -euo pipefail
ventral=${1:-build/ventral}
work=${2:-$(mktemp -d /tmp/ventral-brain-XXXX)}
echo "working in $work"

"$ventral" data make-tiny --to "$work/nsd"                      # nsddata/, nsddata_betas/, nsddata_stimuli/, brainio/
"$ventral" nsd assemble --root "$work/nsd" --subject 1 --out "$work/subj01.h5"   # shared images, default ROIs, ncsnr > 0.2
"$ventral" nsd assemble --root "$work/nsd" --subject 2 --out "$work/subj02.h5" --format nifti
"$ventral" brain info "$work/subj02.h5"                          # subject 2 stopped early: 1-3 repetitions
"$ventral" ceiling --brain "$work/subj01.h5" --method ncsnr -o "$work/ceil-ncsnr"
"$ventral" ceiling --brain "$work/subj02.h5" --method split-half -o "$work/ceil-split"
"$ventral" ceiling --brain "$work/subj01.h5" --method gsn --roi streams:ventral -o "$work/ceil-gsn"

"$ventral" import-neural --netcdf "$work/nsd/brainio/assy_tiny_MajajHong2015_like.nc" --out "$work/it.h5" --subject tiny
"$ventral" ceiling --brain "$work/it.h5" --method split-half --roi IT

# Describe the tiny release as a manifest (sizes + SHA-256), as one would for any dataset to fetch later.
"$ventral" data manifest "$work/nsd" -o "$work/nsd-tiny.tsv" --dataset nsd-tiny
echo "manifest: $(grep -vc '^#' "$work/nsd-tiny.tsv") files in $work/nsd-tiny.tsv"
