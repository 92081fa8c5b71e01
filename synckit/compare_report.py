"""synckit.compare's outputs: table.md and table.csv (mean ± std per metric and method), and grid.png (methods ×
prompts, each cell the seeds' panoramas stacked)."""

import csv

from PIL import Image, ImageDraw, ImageFont

# (key in a method's results, column title): the per-panorama metrics, then the set-level ones (FID, KID)
COLUMNS = (
    ("intra_lpips", "Intra-LPIPS ↓"), ("intra_style", "Intra-Style-L ↓"), ("seam", "seam ↓"),
    ("wrap_seam", "wrap seam"), ("clip", "CLIP ↑"), ("fid", "FID ↓"), ("kid", "KID ↓"), ("seconds", "s / image"),
)
GRID_WIDTH = 768  # px of one panorama in the grid at most: the course's 3072-px ones quartered, the tiny ones as they are
LABEL_WIDTH, HEADER, GAP = 120, 24, 6  # px: the method names' column, the prompts' row, between pictures


def cell_text(result: dict, key: str) -> str:
    value = result.get(key)
    if value is None:
        return "—"
    if key == "kid":
        return f"{value:.3g} ± {result['kid_std']:.2g}"  # KID's std is torchmetrics', over its subsets
    if key == "fid":
        return f"{value:.3g}"
    return f"{value[0]:.3g} ± {value[1]:.2g}"


def write_tables(out, results: dict, info: dict) -> None:
    config = info["config"]
    header = ["method", "flags", *(title for _, title in COLUMNS)]
    lines = [
        f"Each method: {info['prompts']} prompt(s) × {info['seeds']} seed(s), {config.panorama_width}×"
        f"{config.panorama_height} px, windows of {config.rgb_instance_size} px every {config.window_stride} latent "
        f"px, {config.num_inference_steps} steps{', tiny models' if config.tiny else ''}. Mean ± std over the "
        "panoramas. Intra-LPIPS: mean over pairs of square crops; Intra-Style-L: summed over them (SyncDiffusion's "
        "definitions); seam and wrap seam: |gradient| at the window borders (at the wrap) over elsewhere, 1 = none; "
        "CLIP: raw cosine of random square crops"
        + (f"; FID, KID: all square crops against {info['references']} single-window samples." if info["fid"]
           else "; FID and KID: left out (no Inception weights)."),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    from synckit.compare import METHODS

    for name, result in results.items():
        cells = [name, "`" + " ".join(METHODS[name]) + "`", *(cell_text(result, key) for key, _ in COLUMNS)]
        lines.append("| " + " | ".join(cells) + " |")
    (out / "table.md").write_text("\n".join(lines) + "\n", encoding="utf-8")

    with open(out / "table.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        keys = [key for key, _ in COLUMNS]
        writer.writerow(["method", *(f"{key}_{part}" for key in keys for part in ("mean", "std"))])
        for name, result in results.items():
            row = [name]
            for key in keys:
                value = result.get(key)
                pair = (value, result.get("kid_std")) if key == "kid" else (value, None) if key == "fid" else value
                row += ["" if item is None else f"{item:.6g}" for item in (pair or (None, None))]
            writer.writerow(row)


def scaled(image: Image.Image) -> Image.Image:
    if image.width <= GRID_WIDTH:
        return image
    return image.resize((GRID_WIDTH, round(image.height * GRID_WIDTH / image.width)), Image.LANCZOS)


def write_grid(out, images: dict, prompts: list) -> None:
    """images[method][prompt index] = that cell's panoramas, one per seed, stacked top to bottom."""
    font = ImageFont.load_default()
    columns = [[[scaled(image) for image in cell] for cell in row] for row in images.values()]
    cell_height = max(sum(image.height + GAP for image in cell) for row in columns for cell in row)
    cell_width = max(image.width for row in columns for cell in row for image in cell)
    grid = Image.new("RGB", (LABEL_WIDTH + len(prompts) * (cell_width + GAP), HEADER + len(images) * (cell_height + GAP)),
                     "white")
    draw = ImageDraw.Draw(grid)
    for column, prompt in enumerate(prompts):
        draw.text((LABEL_WIDTH + column * (cell_width + GAP), 6), prompt[:cell_width // 7], fill="black", font=font)
    for row, (name, cells) in enumerate(zip(images, columns)):
        top = HEADER + row * (cell_height + GAP)
        draw.text((6, top + 4), name, fill="black", font=font)
        for column, cell in enumerate(cells):
            y = top
            for image in cell:
                grid.paste(image, (LABEL_WIDTH + column * (cell_width + GAP), y))
                y += image.height + GAP
    grid.save(out / "grid.png")
