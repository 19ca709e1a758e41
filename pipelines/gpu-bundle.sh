#!/usr/bin/env bash
# pipelines/gpu-bundle.sh: pack a portable CUDA build into one self-contained folder for a bare GPU
# machine (`make gpu-bundle`, pipelines/gpu-bundle.mk builds BUILD first). The folder mirrors the
# repository, so the scripts run unchanged from it:
#   gpu-check                      the entry point: bash gpu-check [gpu-check.sh options]
#   build/bin, build/tests/gpu_test_*, build/bench/gpu_bench_step    stripped binaries
#   build/lib                      every shared library they need beyond the C/C++ runtime (ldd), copied
#                                  from this machine; gpu-check puts it first on LD_LIBRARY_PATH (the
#                                  binaries carry no RPATH)
#   pipelines/*.sh, tests/run.sh, tests/bench/gpu_*, tests/lib/*.py     the scripts gpu-check runs
#   data/fashion-mnist/*.gz        the training data of the short run
#   MANIFEST.txt                   commit, build settings, sizes, and the ldd proof (below)
# The C/C++ runtime (libc, libm, libdl, libpthread, librt, ld-linux, libstdc++, libgcc_s) is taken from
# the GPU machine; everything else must resolve inside the bundle: checked here with ldd and
# LD_LIBRARY_PATH=build/lib alone, and the bundle is refused (exit 1) when a library resolves
# elsewhere or not at all. cuBLAS, cuDNN and NCCL are not bundled: they are loaded at run time from the
# GPU machine's PyTorch wheels (lib/cuda/libfind.h).
#   gpu-bundle.sh --build DIR [--out DIR] [--data DIR] [--tar]
#   gpu-bundle.sh --check BUNDLE      the ldd proof alone, on a bundle already written (or unpacked)
# --tar also writes OUT.tar.gz (gzip: a bare machine has tar and gzip, maybe not zstd).
# Exit status: 0 bundle written and checked, 1 a check failed, 2 usage error.
set -euo pipefail
runtime_re='^(libc|libm|libdl|libpthread|librt|libresolv|libutil|ld-linux-x86-64|linux-vdso|libstdc\+\+|libgcc_s)\.so'

# check BUNDLE: ldd of every ELF file of the bundle under a clean environment whose loader path is the
# bundle's lib alone; one line per problem, then the summary. 0 when every reference resolves in the
# bundle or to the C/C++ runtime.
check() {
    local b lib n=0 inb=0 rt=0 bad=0 f line name where
    b=$(cd "$1" && pwd) lib=$(cd "$1/build/lib" && pwd)
    while IFS= read -r f; do
        head -c 4 "$f" | grep -q 'ELF' || continue
        n=$((n + 1))
        while IFS= read -r line; do
            line=${line#"${line%%[![:space:]]*}"}
            name=${line%% *}
            case $line in
                *"=> not found"*) echo "NOT FOUND: ${f#"$b"/} needs $name"; bad=$((bad + 1)) ;;
                *"=> $lib/"*) inb=$((inb + 1)) ;;
                *) if [[ $name =~ $runtime_re ]] || [[ $(basename "$name") =~ $runtime_re ]]; then rt=$((rt + 1))
                   elif [[ $line == *"statically linked"* ]]; then :
                   else where=${line#*=> }; echo "OUTSIDE: ${f#"$b"/} needs $name from ${where% (*}"; bad=$((bad + 1)); fi ;;
            esac
        done < <(env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH="$lib" ldd "$f" 2>&1)
    done < <(find "$b/build" -type f | sort)
    echo "ldd proof (LD_LIBRARY_PATH=build/lib alone, clean environment): $n ELF files; $inb references resolve in the bundle, $rt to the C/C++ runtime, $bad elsewhere or not at all"
    [ "$bad" -eq 0 ]
}
if [ "${1:-}" = --check ]; then
    [ -d "${2:-}/build/lib" ] || { echo "gpu-bundle.sh --check: ${2:-(none)} is not a bundle (no build/lib)" >&2; exit 2; }
    check "$2"
    exit
fi
cd "$(dirname "$0")/.."
build="" out=build/gpu-bundle data=${GSG_BUNDLE_DATA:-/usr/share/datasets/fashion-mnist} tar=0
while [ $# -gt 0 ]; do
    case $1 in
        --build) build=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --data) data=$2; shift 2 ;;
        --tar) tar=1; shift ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu-bundle.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
[ -n "$build" ] || { echo "gpu-bundle.sh: --build DIR is required" >&2; exit 2; }
die() { echo "gpu-bundle.sh: $*" >&2; exit 1; }

# the binaries gpu-check runs: every tool (the training pipelines use most), the GPU tests, the bench step
bins=()
for f in "$build"/bin/gsg-* "$build"/tests/gpu_test_* "$build"/bench/gpu_bench_step; do
    [ -x "$f" ] && bins+=("$f")
done
[ "${#bins[@]}" -gt 0 ] || die "no binaries in $build (build it first: make gpu-bundle)"
for need in "$build/tests/gpu_test_cuda_ops" "$build/bench/gpu_bench_step" "$build/bin/gsg-step"; do
    [ -x "$need" ] || die "$need is missing"
done

rm -rf "$out"
mkdir -p "$out"/build/{bin,tests,bench,lib} "$out"/pipelines "$out"/tests/bench "$out"/tests/lib
for f in "${bins[@]}"; do
    rel=${f#"$build"/}
    cp "$f" "$out/build/$rel"
    strip --strip-unneeded "$out/build/$rel"
done

# the C/C++ runtime (runtime_re) stays the machine's; a name matched there is never copied
# copy every other library ldd finds (transitively: ldd lists the whole closure)
for f in "${bins[@]}"; do
    ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }'
done | sort -u | while read -r name path; do
    if [[ $name =~ $runtime_re ]]; then continue; fi
    [ -e "$out/build/lib/$name" ] && continue
    cp -L "$path" "$out/build/lib/$name"
    chmod u+w "$out/build/lib/$name"
    strip --strip-unneeded "$out/build/lib/$name" 2>/dev/null || true
done

# the scripts gpu-check runs (the pipelines source each other through GSG_ROOT = the bundle)
cp pipelines/*.sh "$out/pipelines/"
cp tests/run.sh "$out/tests/"
cp tests/bench/gpu_bench.sh tests/bench/gpu_summary.py tests/bench/gpu_torch_step.py "$out/tests/bench/"
cp tests/lib/*.py "$out/tests/lib/" 2>/dev/null || true
cat >"$out/gpu-check" <<'SH'
#!/usr/bin/env bash
# The bundle's entry point: pipelines/gpu-check.sh on the bundled build (no rebuild, no Debian
# packages needed). Options as gpu-check.sh (--help).
exec bash "$(cd "$(dirname "$0")" && pwd)/pipelines/gpu-check.sh" "$@"
SH
chmod +x "$out/gpu-check"

if [ -n "$data" ]; then
    mkdir -p "$out/data/fashion-mnist"
    n=0
    for f in "$data"/*-ubyte.gz; do [ -f "$f" ] && { cp "$f" "$out/data/fashion-mnist/"; n=$((n + 1)); }; done
    [ "$n" -eq 4 ] || die "expected 4 Fashion-MNIST files (*-ubyte.gz) in $data, found $n"
fi

# the proof: with the bundle's lib alone on the loader path, every binary's libraries resolve in the
# bundle or to the C/C++ runtime (libgomp and the rest are the bundle's copies)
proof=$(check "$out" 2>&1) && ok=1 || ok=0
{
    echo "gsg GPU bundle"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m), from $build"
    grep -h '^CFLAGS=\|^LDLIBS=\|^CUDA=\|^DNNL=\|^MPI=' "$build/config.txt" 2>/dev/null || true
    echo "size: $(du -sk "$out" | cut -f1) KiB"
    # the oldest C/C++ runtime the GPU machine may have: the newest symbol versions any file needs
    echo "needs at least: $(for f in "$out"/build/*/*; do objdump -T "$f" 2>/dev/null; done |
        grep -o 'GLIBC_[0-9.]*[0-9]\|GLIBCXX_[0-9.]*[0-9]' | sort -uV | awk -F_ '{ v[$1] = $0 } END { print v["GLIBC"], v["GLIBCXX"] }')"
    echo
    echo "$proof"
} >"$out/MANIFEST.txt"
[ "$ok" = 1 ] || { echo "$proof" >&2; die "a bundled binary needs a library outside the bundle (see above)"; }
if [ "$tar" = 1 ]; then
    tar -C "$(dirname "$out")" -czf "$out.tar.gz" "$(basename "$out")"
    echo "gpu-bundle: $out.tar.gz ($(du -k "$out.tar.gz" | cut -f1) KiB)"
fi
echo "gpu-bundle: $out ($(du -sk "$out" | cut -f1) KiB, ${#bins[@]} binaries, $(ls "$out/build/lib" | wc -l) libraries)"
