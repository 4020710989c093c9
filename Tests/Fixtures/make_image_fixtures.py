#!/usr/bin/env python3
"""Writes the small image fixtures of ImageDecodingTests (Tests/ModelFoolDataTests) with Pillow.

Each image is 16x16 made of four 8x8 blocks (one JPEG block each, so the blocks keep their
colour through compression), top-left, top-right, bottom-left, bottom-right:

  cmyk_adobe.jpg   CMYK, Adobe APP14 marker (transform 0), inverted values as Photoshop and
                   Pillow write them; blocks (C, M, Y, K) = (0, 0, 0, 0) (200, 40, 0, 0) (0, 160, 220, 30)
                   (60, 60, 60, 120). Pillow's RGB: R = (255 - C)(255 - K)/255, likewise G, B.
  gray.jpg         8-bit greyscale (one component); blocks 0, 80, 170, 255.
  png_named.JPEG   a PNG file named .JPEG (ILSVRC's train set has a few): RGB blocks
                   (255, 0, 0) (0, 255, 0) (0, 0, 255) (250, 200, 30); exact after decoding.
  progressive.jpg  the RGB blocks as a progressive JPEG (SOF2), 4:2:0: the tests patch its
                   frame header to claim 65500x65500 pixels (a decompression bomb).

No YCCK fixture: Pillow cannot write YCCK (Adobe transform 2); libjpeg turns YCCK into the
same CMYK output that cmyk_adobe.jpg exercises. JPEGs use quality 95, 4:4:4 (no chroma subsampling). Usage:
  pip install pillow; python3 Tests/Fixtures/make_image_fixtures.py [output folder]
"""

import os
import sys

from PIL import Image

CMYK_BLOCKS = [(0, 0, 0, 0), (200, 40, 0, 0), (0, 160, 220, 30), (60, 60, 60, 120)]
GRAY_BLOCKS = [0, 80, 170, 255]
RGB_BLOCKS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (250, 200, 30)]


def blocks(mode, colours):
    image = Image.new(mode, (16, 16))
    for index, colour in enumerate(colours):
        x, y = 8 * (index % 2), 8 * (index // 2)
        image.paste(colour, (x, y, x + 8, y + 8))
    return image


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    cmyk = blocks("CMYK", CMYK_BLOCKS)
    cmyk.save(os.path.join(folder, "cmyk_adobe.jpg"), "JPEG", quality=95, subsampling=0)
    blocks("L", GRAY_BLOCKS).save(os.path.join(folder, "gray.jpg"), "JPEG", quality=95)
    rgb = blocks("RGB", RGB_BLOCKS)
    rgb.save(os.path.join(folder, "png_named.JPEG"), "PNG")
    rgb.save(os.path.join(folder, "progressive.jpg"), "JPEG", quality=95, progressive=True)


if __name__ == "__main__":
    main()
