#!/usr/bin/env bash
# Regenerate the example reports from the example bundles (run from the repository root).
# `bystander inspect` exits 1 when it finds violations, which these bundles are made to show.
set -euo pipefail
for bundle in glasses-hotel-room doorlock-faces-abroad speaker-silent-renewal; do
    for fmt in text sarif; do
        ext=$([ "$fmt" = text ] && echo txt || echo sarif)
        bystander inspect "examples/bundles/$bundle" --date 2026-09-01 -f "$fmt" \
            -o "examples/reports/$bundle.$ext" >/dev/null || [ $? -eq 1 ]
    done
done
