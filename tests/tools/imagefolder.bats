#!/usr/bin/env bats
# Image folders read like torchvision's ImageFolder: only *.jpg/*.jpeg/*.png (any case) are images,
# PNG decodes through libpng, --skip-bad names every file it skips, one bad file never spoils the
# decoder for the good ones after it, and GSG_MAX_PIXELS caps what a header may ask for.
# Fixtures come from our own writers (gsg-tensor grid writes PNG and JPEG), never from PIL.
bats_require_minimum_version 1.5.0

setup() {
    PY=/usr/bin/python3
    command -v gsg-augment >/dev/null || { echo "gsg-augment not on PATH (run through tests/run.sh)" >&2; return 1; }
    cd "$BATS_TEST_TMPDIR"
    $PY -c "
import numpy as np
rng = np.random.default_rng(0)
np.save('img.npy', rng.integers(0, 256, (1, 3, 36, 44), dtype=np.uint8))"
    gsg-tensor from-npy images=img.npy -o img.gsgt
    gsg-tensor grid --cols 1 --max 1 -o one.png img.gsgt
    gsg-tensor grid --cols 1 --max 1 -o one.jpg img.gsgt
}

count_images() {   # images in a --plain stream
    gsg-tensor info "$1" | awk '$3 == "images" { split($5, d, /[][,]/); n += d[2] } END { print n + 0 }'
}

@test "only image extensions are read; README.txt, .DS_Store and others are ignored; PNG decodes" {
    mkdir -p data/cat data/dog
    cp one.jpg data/cat/a.jpg; cp one.jpg data/cat/b.JPEG; cp one.png data/dog/c.png; cp one.png data/dog/d.PNG
    echo "a data set" > data/README.txt; echo "notes" > data/cat/notes.md; printf '\0\0\0\1Bud1' > data/dog/.DS_Store
    echo "1,2" > data/dog/labels.csv
    run -0 --separate-stderr gsg-augment --data data --plain --batch 8 --size 32 -o out.gsgt
    [ -z "$stderr" ]
    [ "$(count_images out.gsgt)" = 4 ]
    # the same folder with only PNGs
    mkdir -p png/x; cp one.png png/x/1.png; cp one.png png/x/2.png
    run -0 gsg-augment --data png --plain --batch 8 --size 32 -o p.gsgt
    [ "$(count_images p.gsgt)" = 2 ]
}

@test "--skip-bad names every file it skips on stderr" {
    mkdir -p data/a
    for i in 1 2 3 4; do cp one.jpg data/a/g$i.jpg; done
    echo "not a jpeg" > data/a/bad1.jpg
    printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR' > data/a/bad2.png
    run -1 --separate-stderr gsg-augment --data data --plain --batch 8 --size 32 -o out.gsgt
    [[ "$stderr" == *"bad1.jpg"*"--skip-bad"* ]]
    [ ! -e out.gsgt ]
    run -0 --separate-stderr gsg-augment --data data --plain --batch 8 --size 32 --skip-bad -o out.gsgt
    [[ "$stderr" == *"skipped: "*"data/a/bad1.jpg"* ]]
    [[ "$stderr" == *"skipped: "*"data/a/bad2.png"* ]]
    [[ "$stderr" == *"skipped 2 unreadable files at open"* ]]
    [ "$(count_images out.gsgt)" = 4 ]
}

@test "one file whose JPEG header fails does not spoil the decoder: all good images decode (1 thread)" {
    mkdir -p data/a
    for i in $(seq -w 1 50); do cp one.jpg data/a/g$i.jpg; done
    # SOI + a SOF0 whose length disagrees with its components: TurboJPEG fails the header, and its
    # handle then failed every later file ("dropped 51 of 51" before the fix)
    printf '\xff\xd8\xff\xc0\x00\x11\x08\x00\x10\x00\x10\x05\x01\x11\x00\x02\x11\x00\x03\x11\x00\x04\x11\x00\x05\x11\x00\xff\xd9' > data/a/a_bad.jpg
    run -0 --separate-stderr gsg-augment --data data --plain --batch 64 --size 32 --threads 1 --skip-bad -o out.gsgt
    [[ "$stderr" == *"a_bad.jpg"* ]]
    [[ "$stderr" == *"skipped 1 unreadable file at open"* ]]
    [ "$(count_images out.gsgt)" = 50 ]
    run -0 gsg-augment --data data --views 2 --batch 10 --size 32 --threads 1 --skip-bad -o v.gsgt
}

@test "GSG_MAX_PIXELS caps an image header before decoding; a bad value is named" {
    mkdir -p data/a; cp one.jpg data/a/x.jpg; cp one.png data/a/y.png
    GSG_MAX_PIXELS=1000 run -1 --separate-stderr gsg-augment --data data --plain --batch 8 --size 32 -o out.gsgt
    [[ "$stderr" == *"pixels: expected at most 1000 (GSG_MAX_PIXELS)"* ]]
    [ ! -e out.gsgt ]
    GSG_MAX_PIXELS=2K run -0 gsg-augment --data data --plain --batch 8 --size 32 -o out.gsgt
    GSG_MAX_PIXELS=many run -2 --separate-stderr gsg-augment --data data --plain --batch 8 --size 32 -o out.gsgt
    [[ "$stderr" == *"GSG_MAX_PIXELS='many'"* ]]
}
