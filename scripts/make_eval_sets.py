"""Build the fresh and the harder evaluation sets of the OCR and speech recipes (seeded; a minute on a laptop CPU).

    python scripts/make_eval_sets.py [--out outputs/eval_sets] [--only ocr|speech] [--seed 2026]

The shipped data (``shared/data/ocr_plates_fa``, ``shared/data/speech_digits_fa``; see their SOURCE.md) came from
generators that are not part of this repository. This script re-implements them from their SOURCE.md as closely as
it can, then moves one factor outside the training range:

``<out>/ocr_plates_fa_eval/``  (192x48 grayscale PNG plates, ``path,text`` CSVs; the training character set)
    ``fresh.csv`` (300): new plates drawn like the shipped ones: 2 Persian digits, a letter, 3 digits, 2 digits, glyph
    by glyph, in the five Noto Arabic-script faces of Debian's fonts-noto-core that SOURCE.md's "five Noto fonts"
    most likely are (Naskh Regular and Bold, Sans Regular and Bold, Kufi: a guess from looking at the shipped
    plates, none of which is Nastaliq), random size, spacing, rotation (+-3 degrees), blur and salt noise, the text
    fitted to the width the shipped plates' text spans.
    ``unseen_fonts.csv`` (300): the same generator with six Arabic-script faces no shipped plate uses (Amiri, Lateef,
    Scheherazade, Nazli, FreeFarsi, DejaVu Sans; Debian's fonts-hosny-amiri, fonts-sil-lateef,
    fonts-sil-scheherazade, fonts-farsiweb, fonts-freefarsi, fonts-dejavu-core).

``<out>/speech_digits_fa_eval/``  (16 kHz mono 16-bit FLAC, ``path,sentence`` CSVs)
    ``fresh.csv`` (80): 3 to 6 Persian digit words spoken by espeak-ng's ``fa`` voice at a random speed in the
    training range (120-200 words per minute), random pitch (30-70), word gap (0-8, espeak's 10 ms units) and gain.
    ``unseen_speeds.csv`` (100) and ``speed_<wpm>.csv`` (20 each): the same at 80, 100 (slower) and 230, 260, 290
    (faster) words per minute.

Needs: ``apt-get install fonts-noto-core fonts-hosny-amiri fonts-sil-lateef fonts-sil-scheherazade fonts-farsiweb
fonts-freefarsi fonts-dejavu-core espeak-ng`` (Debian 12: espeak-ng 1.51, as SOURCE.md). Each folder gets a SOURCE.md
naming the packages' versions. The sets are not committed (about 9 MB); the same seed and package versions give the
same files. Evaluate a model on one with e.g.
``python scripts/evaluate_model.py outputs/ocr_plates/checkpoints outputs/eval_sets/ocr_plates_fa_eval --split unseen_fonts --device cpu``.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

DIGITS = "۰۱۲۳۴۵۶۷۸۹"
LETTERS = "بجدسصطقلمنوهی"
DIGIT_WORDS = ["صفر", "یک", "دو", "سه", "چهار", "پنج", "شش", "هفت", "هشت", "نه"]
FONT_DIR = "/usr/share/fonts"
# (package, file) of the faces the shipped plates most likely use, and of six faces they do not.
TRAINING_FONTS = [("fonts-noto-core", "truetype/noto/NotoNaskhArabic-Regular.ttf"),
                  ("fonts-noto-core", "truetype/noto/NotoNaskhArabic-Bold.ttf"),
                  ("fonts-noto-core", "truetype/noto/NotoSansArabic-Regular.ttf"),
                  ("fonts-noto-core", "truetype/noto/NotoKufiArabic-Regular.ttf"),
                  ("fonts-noto-core", "truetype/noto/NotoSansArabic-Bold.ttf")]
UNSEEN_FONTS = [("fonts-hosny-amiri", "opentype/fonts-hosny-amiri/Amiri-Regular.ttf"),
                ("fonts-sil-lateef", "opentype/lateef/Lateef-Regular.ttf"),
                ("fonts-sil-scheherazade", "truetype/scheherazade/Scheherazade-Regular.ttf"),
                ("fonts-farsiweb", "truetype/farsiweb/nazli.ttf"),
                ("fonts-freefarsi", "truetype/freefarsi/FreeFarsi.ttf"),
                ("fonts-dejavu-core", "truetype/dejavu/DejaVuSans.ttf")]
TRAINING_WPM = (120, 200)
UNSEEN_WPM = (80, 100, 230, 260, 290)
WIDTH, HEIGHT = 192, 48


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="outputs/eval_sets", help="folder that receives the two data folders")
    parser.add_argument("--only", choices=["ocr", "speech"], default=None, help="build one of the two")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--plates", type=int, default=300, help="plates per OCR set")
    parser.add_argument("--clips", type=int, default=80, help="clips in the fresh speech set")
    parser.add_argument("--clips-per-speed", type=int, default=20)
    return parser.parse_args(argv)


def package_version(package: str) -> str:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


def require_files(fonts) -> list[str]:
    paths = [os.path.join(FONT_DIR, name) for _, name in fonts]
    missing = sorted({package for (package, _), path in zip(fonts, paths) if not os.path.isfile(path)})
    if missing:
        sys.exit(f"error: missing fonts; install them with: apt-get install {' '.join(missing)}")
    return paths


# -- OCR ------------------------------------------------------------------------------------------------------------
def plate_text(rng: np.random.Generator) -> str:
    """2 digits, a letter, 3 digits, 2 digits (in visual left-to-right order, as the shipped CSVs)."""
    digits = lambda n: "".join(rng.choice(list(DIGITS), size=n))  # noqa: E731
    return digits(2) + rng.choice(list(LETTERS)) + digits(3) + digits(2)


def ink_of(text: str, font_path: str, rng: np.random.Generator):
    """The text's ink (0-1 float array), glyph by glyph on a baseline, with random spacing and a gap before the
    last two digits; cropped to the ink."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(font_path, 64)
    canvas = Image.new("L", (1400, 260), 0)
    draw = ImageDraw.Draw(canvas)
    x, baseline = 20, 170
    for position, char in enumerate(text):
        left, _, right, _ = draw.textbbox((0, baseline), char, font=font, anchor="ls")
        draw.text((x - left, baseline), char, font=font, fill=255, anchor="ls")
        x += (right - left) + int(rng.integers(2, 10))
        if position in (1, 2, 5):  # around the letter, and wider after it and before the last pair: the groups
            x += int(rng.integers(0, 6) if position == 1 else rng.integers(8, 26))
    ink = np.asarray(canvas, dtype=np.float32) / 255
    rows, cols = np.flatnonzero(ink.max(1) > 0), np.flatnonzero(ink.max(0) > 0)
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def render_plate(text: str, font_path: str, rng: np.random.Generator):
    from PIL import Image, ImageFilter

    ink = Image.fromarray((ink_of(text, font_path, rng) * 255).astype(np.uint8))
    # The shipped plates' text spans 169 +- 8 of the 192 pixels (measured on their dark pixels): fit the width.
    width = int(rng.integers(156, 183))
    height = round(ink.height * width / ink.width)
    if height > HEIGHT - 6:
        width, height = max(8, round(ink.width * (HEIGHT - 6) / ink.height)), HEIGHT - 6
    ink = ink.resize((width, height), Image.Resampling.BICUBIC)
    mask = Image.new("L", (WIDTH, HEIGHT), 0)
    left = (WIDTH - width) // 2 + int(rng.integers(-5, 6))
    top = (HEIGHT - height) // 2 + int(rng.integers(-3, 4))
    mask.paste(ink, (left, max(0, top)))
    mask = mask.rotate(float(rng.uniform(-3, 3)), resample=Image.Resampling.BICUBIC)
    background, foreground = rng.uniform(170, 245), rng.uniform(0, 80)
    alpha = np.asarray(mask, dtype=np.float32) / 255
    pixels = background * (1 - alpha) + foreground * alpha
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 1.0))))
    pixels = np.asarray(image, dtype=np.float32).copy()
    salt = rng.random(pixels.shape) < rng.uniform(0, 0.03)
    pixels[salt] = np.where(rng.random(int(salt.sum())) < 0.8, rng.uniform(0, 60, int(salt.sum())),
                            rng.uniform(200, 255, int(salt.sum())))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def build_ocr(out: str, seed: int, count: int) -> None:
    folder = os.path.join(out, "ocr_plates_fa_eval")
    shutil.rmtree(folder, ignore_errors=True)
    for split, fonts, stream in (("fresh", TRAINING_FONTS, 1), ("unseen_fonts", UNSEEN_FONTS, 2)):
        paths = require_files(fonts)
        rng = np.random.default_rng([seed, stream])
        os.makedirs(os.path.join(folder, split))
        rows = []
        for i in range(count):
            text, font = plate_text(rng), paths[i % len(paths)]
            name = f"{split}/{i:05d}.png"
            render_plate(text, font, rng).save(os.path.join(folder, name), optimize=True)
            rows.append({"path": name, "text": text})
        write_csv(os.path.join(folder, f"{split}.csv"), ["path", "text"], rows)
    fonts = "\n".join(f"- `{split}`: " + ", ".join(f"{os.path.basename(name)} ({package} {package_version(package)})"
                                                     for package, name in table)
                      for split, table in (("fresh", TRAINING_FONTS), ("unseen_fonts", UNSEEN_FONTS)))
    write_source(folder, "ocr_plates_fa_eval", f"Fonts (one after the other, plate by plate):\n{fonts}", seed)
    print(f"wrote {2 * count} plates to {folder}")


# -- speech -----------------------------------------------------------------------------------------------------------
def speak(words: list[str], wpm: int, rng: np.random.Generator, scratch: str) -> np.ndarray:
    """espeak-ng's fa voice at ``wpm``, random pitch and word gap, resampled to 16 kHz with a random peak gain."""
    import soundfile
    import soxr

    wav = os.path.join(scratch, "clip.wav")
    subprocess.run(["espeak-ng", "-v", "fa", "-s", str(wpm), "-p", str(int(rng.integers(30, 71))),
                    "-g", str(int(rng.integers(0, 9))), "-w", wav, " ".join(words)], check=True)
    audio, rate = soundfile.read(wav, dtype="float32")
    audio = soxr.resample(audio, rate, 16000).astype(np.float32)
    return audio / max(float(np.abs(audio).max()), 1e-6) * float(rng.uniform(0.2, 0.6))


def build_speech(out: str, seed: int, clips: int, per_speed: int) -> None:
    import soundfile

    if shutil.which("espeak-ng") is None:
        sys.exit("error: espeak-ng is missing; install it with: apt-get install espeak-ng")
    folder = os.path.join(out, "speech_digits_fa_eval")
    shutil.rmtree(folder, ignore_errors=True)
    plans = {"fresh": [None] * clips, "unseen_speeds": [w for w in UNSEEN_WPM for _ in range(per_speed)]}
    with tempfile.TemporaryDirectory() as scratch:
        for stream, (split, speeds) in enumerate(plans.items(), start=1):
            rng = np.random.default_rng([seed, 10 + stream])
            os.makedirs(os.path.join(folder, split))
            rows = []
            for i, wpm in enumerate(speeds):
                wpm = int(rng.integers(TRAINING_WPM[0], TRAINING_WPM[1] + 1)) if wpm is None else wpm
                words = [DIGIT_WORDS[d] for d in rng.integers(0, 10, size=int(rng.integers(3, 7)))]
                name = f"{split}/{i:05d}.flac"
                soundfile.write(os.path.join(folder, name), speak(words, wpm, rng, scratch), 16000, subtype="PCM_16")
                rows.append({"path": name, "sentence": " ".join(words), "wpm": wpm})
            write_csv(os.path.join(folder, f"{split}.csv"), ["path", "sentence", "wpm"], rows)
            if split == "unseen_speeds":
                for wpm in UNSEEN_WPM:
                    write_csv(os.path.join(folder, f"speed_{wpm:03d}.csv"), ["path", "sentence", "wpm"],
                              [r for r in rows if r["wpm"] == wpm])
    write_source(folder, "speech_digits_fa_eval",
                 f"espeak-ng {package_version('espeak-ng')} (voice `fa`), resampled with soxr; speeds (words per "
                 f"minute): fresh uniform in {TRAINING_WPM[0]}-{TRAINING_WPM[1]}, unseen_speeds {list(UNSEEN_WPM)}.",
                 seed)
    print(f"wrote {clips + len(plans['unseen_speeds'])} clips to {folder}")


# -- files ------------------------------------------------------------------------------------------------------------
def write_csv(path: str, fields: list[str], rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def write_source(folder: str, name: str, details: str, seed: int) -> None:
    with open(os.path.join(folder, "SOURCE.md"), "w", encoding="utf-8") as f:
        f.write(f"# {name}\n\nMade by `python scripts/make_eval_sets.py --seed {seed}` (see its docstring for what "
                f"each split holds and how it differs from the training data).\n\n{details}\n")


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.only in (None, "ocr"):
        build_ocr(args.out, args.seed, args.plates)
    if args.only in (None, "speech"):
        build_speech(args.out, args.seed, args.clips, args.clips_per_speed)


if __name__ == "__main__":
    main()
