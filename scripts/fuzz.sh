#!/usr/bin/env bash
# libFuzzer targets for MikataVault's parsers (docs/RELIABILITY.md, "Fuzzing"). SwiftPM cannot build libFuzzer
# binaries, so this script drives swiftc directly:
#
#   MikataCrypto, MikataFormat  -> separate modules (objects + .swiftmodule), instrumented (-sanitize=fuzzer,address)
#   MikataVault                 -> the same, once for every vault-level target, built with -enable-testing
#   format-level targets        -> Fuzz/FuzzSupport.swift + Fuzz/Fuzz<Target>.swift, importing those modules
#   vault-level targets         -> the same, with `@testable import MikataVault` in the harness, so internal readers
#                                  are reachable (MikataVault is compiled once, not once per target)
#
# All modules share -package-name MikataVault (for `package` declarations) and Package.swift's strict settings.
#
#   scripts/fuzz.sh build [TARGET...]       build the fuzzers (incremental) into .build-fuzz/bin/
#   scripts/fuzz.sh run [TARGET...]         build, then fuzz each target for $FUZZ_SECONDS (default 60)
#   scripts/fuzz.sh reproduce TARGET FILE...  run inputs once through a target (e.g. a crash file)
#   scripts/fuzz.sh seeds                   regenerate the seed corpora fixtures/fuzz/<target>/ with the library
#   scripts/fuzz.sh targets                 list the targets
#
# Environment: FUZZ_SECONDS (60), FUZZ_JOBS (targets fuzzed at once, 1), FUZZ_BUILD_JOBS (nproc), FUZZ_TIMEOUT
# (seconds per input before libFuzzer reports a hang, 10), FUZZ_RSS_MB (2048), FUZZ_SKIP_KNOWN_CRASHES=1 (leave
# fixtures/fuzz/crashes/<target>/ out of the corpus), FUZZ_INCLUDE_OPEN=1 (keep the inputs listed in
# fixtures/fuzz/crashes/open-findings.txt, left out by default), FUZZ_FRESH=1 (start from the seeds, not the
# accumulated corpus), FUZZ_ARGS (extra libFuzzer flags), JCS_INPUT (JSON seed folder for `seeds`).
#
# Seeds are copied to .build-fuzz/corpus/<target>/ (fixtures are never written); crash, hang and out-of-memory
# inputs land in .build-fuzz/crashes/<target>/. `run` exits 1 if any target found one, printing the files.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD
OUT=$REPO/.build-fuzz
# Builds read a snapshot of the sources (mtimes kept, so rebuilds stay incremental): edits made while swiftc
# runs cannot fail the build half-way or mix two versions of a file.
ROOT=$OUT/src
SELF=$REPO/scripts/fuzz.sh
SWIFTC=${SWIFTC:-swiftc}

# target -> layer (format: links the modules; vault: compiled with the MikataVault sources) and harness file.
TARGETS=(vault vaultwriter keystate certificate audit json storefiles backup)
declare -A LAYER=([vault]=vault [vaultwriter]=vault [keystate]=format [certificate]=vault [audit]=vault [json]=format
                  [storefiles]=format [backup]=vault)
declare -A HARNESS=([vault]=FuzzVault [vaultwriter]=FuzzVaultWriter [keystate]=FuzzKeyState [certificate]=FuzzCertificate
                    [audit]=FuzzAuditLog [json]=FuzzJSON [storefiles]=FuzzStoreFiles [backup]=FuzzBackup)
# libFuzzer -dict tokens: JSON syntax and field names for the JSON-shaped targets; magic numbers and boundary
# integers (0, 1, 2^n - 1, 2^n, all ones) for the binary ones, so counters and lengths reach their edges.
declare -A DICT=([json]=json [audit]=json [certificate]=json [vault]=binary [vaultwriter]=binary [keystate]=binary
                 [storefiles]=binary [backup]=binary)

STRICT=(-swift-version 6 -package-name MikataVault
        -enable-upcoming-feature ExistentialAny -enable-upcoming-feature MemberImportVisibility
        -enable-upcoming-feature InternalImportsByDefault -warnings-as-errors)
SODIUM=(-I "$ROOT/Sources/CSodium")

log() { printf 'fuzz.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 2; }

# Installs what is missing, via apt only: libsodium's headers (as `make deps` does). The libFuzzer and ASan
# runtimes ship with the Swift toolchain.
ensure_deps() {
    command -v "$SWIFTC" >/dev/null || die "swiftc not found (install the Swift toolchain)"
    if ! pkg-config --exists libsodium 2>/dev/null; then
        local packages=(libsodium-dev) sudo=""
        command -v pkg-config >/dev/null || packages+=(pkg-config)
        log "installing ${packages[*]} (apt)"
        [ "$(id -u)" = 0 ] || sudo=sudo
        $sudo apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
    fi
    local resource
    resource=$("$SWIFTC" -print-target-info | sed -n 's/.*"runtimeResourcePath": "\(.*\)".*/\1/p')
    compgen -G "$resource/../clang/*/lib/*/libclang_rt.fuzzer*.a" >/dev/null \
        || log "warning: no libclang_rt.fuzzer under $resource/../clang; -sanitize=fuzzer may fail to link"
}

snapshot() {
    rm -rf "$ROOT.new" && mkdir -p "$ROOT.new/Sources"
    local m
    for m in CSodium MikataCrypto MikataFormat MikataVault; do cp -a "$REPO/Sources/$m" "$ROOT.new/Sources/"; done
    cp -a "$REPO/Fuzz" "$ROOT.new/"
    rm -rf "$ROOT" && mv "$ROOT.new" "$ROOT"
}

is_target() { local t; for t in "${TARGETS[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }

selected() {
    if [ $# -eq 0 ]; then printf '%s\n' "${TARGETS[@]}"; return; fi
    local t; for t in "$@"; do is_target "$t" || die "unknown target '$t' (targets: ${TARGETS[*]})"; echo "$t"; done
}

# True if $1 is missing or older than any of the files after it.
stale() {
    local out=$1; shift
    [ -e "$out" ] || return 0
    [ -n "$(find "$@" -newer "$out" -print -quit 2>/dev/null)" ]
}

# build_modules DIR FLAGS...: MikataCrypto and MikataFormat as separate modules (one object each).
build_modules() {
    local dir=$1; shift
    mkdir -p "$dir"
    local m deps
    for m in MikataCrypto MikataFormat; do
        deps=("$ROOT/Sources/$m" "$ROOT/Sources/CSodium" "$SELF")
        [ "$m" = MikataFormat ] && deps+=("$dir/MikataCrypto.o")
        if stale "$dir/$m.o" "${deps[@]}"; then
            log "compiling module $m ($dir)"
            "$SWIFTC" "${STRICT[@]}" "$@" -parse-as-library -wmo "${SODIUM[@]}" -I "$dir" \
                -module-name "$m" -emit-module -emit-module-path "$dir/$m.swiftmodule" \
                -c $(module_sources "$ROOT/Sources/$m") -o "$dir/$m.o"
            touch "$dir/$m.o"  # swiftc leaves an unchanged object untouched; the mtime is what `stale` reads
        fi
    done
}

FUZZ_FLAGS=(-O -g -sanitize=fuzzer,address)

# build_vault_module DIR FLAGS...: MikataVault as one module (one object) for the vault-level targets, with
# -enable-testing so that their harnesses reach its internal readers through `@testable import`.
build_vault_module() {
    local dir=$1; shift
    local sources; mapfile -t sources < <(module_sources "$ROOT/Sources/MikataVault")
    if stale "$dir/MikataVault.o" "$ROOT/Sources/MikataVault" "${sources[@]}" "$dir/MikataFormat.o" "$SELF"; then
        log "compiling module MikataVault ($dir)"
        "$SWIFTC" "${STRICT[@]}" "$@" -enable-testing -parse-as-library -wmo "${SODIUM[@]}" -I "$dir" \
            -module-name MikataVault -emit-module -emit-module-path "$dir/MikataVault.swiftmodule" \
            -c "${sources[@]}" -o "$dir/MikataVault.o"
        touch "$dir/MikataVault.o"
    fi
}

# A module's Swift sources, subfolders included (MikataVault keeps its layers in folders), in a stable order.
module_sources() { find "$1" -name '*.swift' -type f | LC_ALL=C sort; }

build_target() {
    local t=$1 mods=$OUT/modules bin=$OUT/bin/$t
    local harness=$ROOT/Fuzz/${HARNESS[$t]}.swift support=$ROOT/Fuzz/FuzzSupport.swift
    local deps=("$harness" "$support" "$mods/MikataCrypto.o" "$mods/MikataFormat.o" "$SELF")
    local objects=("$mods/MikataCrypto.o" "$mods/MikataFormat.o")
    if [ "${LAYER[$t]}" = vault ]; then deps+=("$mods/MikataVault.o"); objects+=("$mods/MikataVault.o"); fi
    mkdir -p "$OUT/bin"
    stale "$bin" "${deps[@]}" || return 0
    log "compiling target $t"
    "$SWIFTC" "${STRICT[@]}" "${FUZZ_FLAGS[@]}" -parse-as-library "${SODIUM[@]}" -I "$mods" \
        -module-name "Fuzz_$t" "$support" "$harness" "${objects[@]}" -lsodium -use-ld=lld -o "$bin"
}

build() {
    ensure_deps
    snapshot
    build_modules "$OUT/modules" "${FUZZ_FLAGS[@]}"
    local t needs_vault=0
    for t in $(selected "$@"); do [ "${LAYER[$t]}" = vault ] && needs_vault=1; done
    [ "$needs_vault" = 0 ] || build_vault_module "$OUT/modules" "${FUZZ_FLAGS[@]}"
    # Targets compile in parallel (small: a harness each, linked with the modules' objects).
    local jobs=${FUZZ_BUILD_JOBS:-$(nproc)} running=0 failed=0 t
    for t in $(selected "$@"); do
        build_target "$t" &
        running=$((running + 1))
        if [ "$running" -ge "$jobs" ]; then wait -n || failed=1; running=$((running - 1)); fi
    done
    while [ "$running" -gt 0 ]; do wait -n || failed=1; running=$((running - 1)); done
    [ "$failed" = 0 ] || die "build failed"
}

write_dicts() {
    mkdir -p "$OUT/dict"
    cat >"$OUT/dict/json.dict" <<'EOF'
"{"
"}"
"["
"]"
":"
","
"\""
"\\"
"\\u"
"\\ud83d\\ude00"
"true"
"false"
"null"
"-0"
"1e+21"
"5e-324"
"1.7976931348623157e308"
"9007199254740993"
"\xc3\xa9"
"\xf0\x9f\x98\x80"
"\x0a"
"\"type\""
"\"entry\""
"\"checkpoint\""
"\"anchor\""
"\"seq\""
"\"prev\""
"\"hash\""
"\"signature\""
"\"issuer\""
"\"publicKey\""
"\"signingKeyId\""
"\"version\""
"\"mikata-deletion-certificate\""
EOF
    cat >"$OUT/dict/binary.dict" <<'EOF'
"MKTVAULT"
"MKTH"
"MKTR"
"MKTE"
"MKTBAKUP"
"MKTK"
"MKTG"
"MKTL"
"MKTS"
"MKTY"
"MKTP"
"\x00\x01"
"\x00\x00\x00\x01"
"\x00\x00\x00\x00\x00\x00\x00\x00"
"\x00\x00\x00\x00\x00\x00\x00\x01"
"\xff\xff"
"\xff\xff\xff\xff"
"\xff\xff\xff\xff\xff\xff\xff\xfe"
"\xff\xff\xff\xff\xff\xff\xff\xff"
"\x7f\xff\xff\xff\xff\xff\xff\xff"
"\x80\x00\x00\x00\x00\x00\x00\x00"
"\x00\x00\x00\x00\xff\xff\xff\xff"
"\x00\x00\x00\x01\x00\x00\x00\x00"
"\x00\x1f\xff\xff\xff\xff\xff\xff"
"\x00\x20\x00\x00\x00\x00\x00\x00"
"\x10\x00"
"\x10\x01"
"\x04\x00"
"\x04\x01"
"\x01\x00\x00\x00"
"\x01\x00\x00\x01"
"\x40\x00\x00\x00"
"\x40\x00\x00\x01"
EOF
}

# File names of a target's crash inputs whose bug is still open.
open_findings() {
    local list=$REPO/fixtures/fuzz/crashes/open-findings.txt
    [ -f "$list" ] || return 0
    sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$list" | sed -n "s|^[[:space:]]*$1/||p"
}

# Prints a stat from libFuzzer's -print_final_stats output.
final_stat() { sed -n "s/^stat::$2: *//p" "$1" | tail -1; }

fuzz_one() {
    local t=$1 seconds=$2
    local corpus=$OUT/corpus/$t crashes=$OUT/crashes/$t logf=$OUT/logs/$t.log
    [ "${FUZZ_FRESH:-0}" = 1 ] && rm -rf "$corpus"
    mkdir -p "$corpus" "$crashes" "$OUT/logs"
    local dir f
    local dirs=("$REPO/fixtures/fuzz/$t")
    [ "${FUZZ_SKIP_KNOWN_CRASHES:-0}" = 1 ] || dirs+=("$REPO/fixtures/fuzz/crashes/$t")
    # Inputs of open findings (fixtures/fuzz/crashes/open-findings.txt) would stop the run at once.
    local open=""
    [ "${FUZZ_INCLUDE_OPEN:-0}" = 1 ] || open=$(open_findings "$t")
    for dir in "${dirs[@]}"; do
        [ -d "$dir" ] || continue
        for f in "$dir"/*; do
            [ -f "$f" ] && [ "$(basename "$f")" != README.md ] || continue
            if printf '%s\n' "$open" | grep -qxF "$(basename "$f")"; then rm -f "$corpus/$(basename "$f")"; continue; fi
            cp -n "$f" "$corpus/"
        done
    done
    [ -z "$open" ] || log "$t: leaving out open findings: $(echo $open)"
    local before; before=$(ls "$corpus" | wc -l)
    local marker=$OUT/logs/$t.start; : >"$marker"
    local dict=(); [ -n "${DICT[$t]:-}" ] && dict=(-dict="$OUT/dict/${DICT[$t]}.dict")
    local rc=0
    log "fuzzing $t for ${seconds}s (corpus: $before files)"
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
        "$OUT/bin/$t" -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb="${FUZZ_RSS_MB:-2048}" \
        -print_final_stats=1 -artifact_prefix="$crashes/" "${dict[@]}" ${FUZZ_ARGS:-} "$corpus" >"$logf" 2>&1 || rc=$?
    local found; found=$(find "$crashes" -type f -newer "$marker" | sort)
    local after; after=$(ls "$corpus" | wc -l)
    local runs eps time
    runs=$(final_stat "$logf" number_of_executed_units); eps=$(final_stat "$logf" average_exec_per_sec)
    time=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$logf" | tail -1)
    local ncrash; ncrash=$(printf '%s' "$found" | grep -c . || true)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "${runs:-?}" "${eps:-?}" "${time:-$seconds}" "$before" "$after" "$ncrash" "$rc" \
        >"$OUT/logs/$t.summary"
    if [ -n "$found" ]; then
        log "$t: FOUND $ncrash input(s) that crash, hang or exhaust memory (log: $logf):"
        printf '  %s\n' $found >&2
        grep -m1 -E '^==[0-9]+==ERROR|^SUMMARY|Fatal error|fuzz invariant|ALARM|out-of-memory' "$logf" | sed 's/^/  /' >&2 || true
    elif [ "$rc" != 0 ]; then
        log "$t: libFuzzer exited $rc without an artifact (log: $logf)"
    fi
}

run() {
    local seconds=${FUZZ_SECONDS:-60}
    local targets; targets=$(selected "$@")
    # shellcheck disable=SC2086
    build $targets
    write_dicts
    # Files the targets write (vault and audit go through real files) live on tmpfs when there is one.
    local scratch=/dev/shm/mikata-fuzz-$$
    mkdir -p "$scratch" 2>/dev/null || { scratch=$OUT/tmp/$$; mkdir -p "$scratch"; }
    export MIKATA_FUZZ_SCRATCH=$scratch
    trap 'rm -rf "$MIKATA_FUZZ_SCRATCH"' EXIT
    local jobs=${FUZZ_JOBS:-1} running=0 t
    for t in $targets; do
        fuzz_one "$t" "$seconds" &
        running=$((running + 1))
        if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
    done
    wait || true
    # Per-target figures (docs/RELIABILITY.md): executions, exec/s, seconds, corpus before/after, crashes.
    local summary=$OUT/summary.tsv status=0
    printf 'target\truns\texec/s\tseconds\tcorpus_start\tcorpus_end\tcrashes\texit\n' >"$summary"
    for t in $targets; do cat "$OUT/logs/$t.summary" >>"$summary"; done
    column -t -s $'\t' "$summary" 2>/dev/null || cat "$summary"
    local crashed=""
    for t in $targets; do
        if [ "$(cut -f7 "$OUT/logs/$t.summary")" != 0 ] || [ "$(cut -f8 "$OUT/logs/$t.summary")" != 0 ]; then
            crashed+=" $t"; status=1
        fi
    done
    if [ "$status" != 0 ]; then
        log "targets with findings:$crashed"
        for t in $crashed; do find "$OUT/crashes/$t" -type f -newer "$OUT/logs/$t.start" -printf '  crash file: %p\n' >&2; done
        log "reproduce: scripts/fuzz.sh reproduce TARGET FILE; keep each input in fixtures/fuzz/crashes/TARGET/"
    fi
    return "$status"
}

reproduce() {
    [ $# -ge 2 ] || die "usage: fuzz.sh reproduce TARGET FILE..."
    local t=$1; shift
    is_target "$t" || die "unknown target '$t'"
    build "$t"
    local scratch; scratch=$(mktemp -d)
    local rc=0
    MIKATA_FUZZ_SCRATCH=$scratch "$OUT/bin/$t" -runs=1 "$@" || rc=$?
    rm -rf "$scratch"
    return $rc
}

# Seeds come from the library itself: a generator compiled (without sanitizers) with the MikataVault sources.
seeds() {
    ensure_deps
    snapshot
    local plain=$OUT/plain
    build_modules "$plain" -Onone
    if stale "$plain/generate-seeds" "$ROOT/Fuzz/GenerateSeeds.swift" "$ROOT/Sources/MikataVault" "$plain/MikataFormat.o" "$SELF"; then
        log "compiling the seed generator"
        "$SWIFTC" "${STRICT[@]}" -Onone -parse-as-library "${SODIUM[@]}" -I "$plain" -module-name MikataVault \
            $(module_sources "$ROOT/Sources/MikataVault") "$ROOT/Fuzz/GenerateSeeds.swift" \
            "$plain/MikataCrypto.o" "$plain/MikataFormat.o" -lsodium -o "$plain/generate-seeds"
    fi
    local t
    for t in "${TARGETS[@]}"; do rm -rf "$REPO/fixtures/fuzz/$t"; done
    "$plain/generate-seeds" "$REPO/fixtures/fuzz" "${JCS_INPUT:-$REPO/fixtures/vectors/jcs/input}"
    du -sh "$REPO/fixtures/fuzz"
    for t in "${TARGETS[@]}"; do printf '%-12s %s files\n' "$t" "$(ls "$REPO/fixtures/fuzz/$t" | wc -l)"; done
}

main() {
    local cmd=${1:-run}; [ $# -gt 0 ] && shift
    case "$cmd" in
        build) build "$@" ;;
        run) run "$@" ;;
        reproduce) reproduce "$@" ;;
        seeds) seeds ;;
        targets) printf '%s\n' "${TARGETS[@]}" ;;
        *) die "unknown command '$cmd' (build, run, reproduce, seeds, targets)" ;;
    esac
}

# One line, read whole before it runs: editing this file during a long run cannot change what the run executes.
main "$@"; exit $?
