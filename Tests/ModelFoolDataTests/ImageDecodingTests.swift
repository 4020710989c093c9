import Foundation
import ModelFoolData
import Testing

/// Path of a file in Tests/Fixtures (written by Tests/Fixtures/make_image_fixtures.py).
private func imageFixture(_ name: String) -> String {
  URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").appendingPathComponent(name).path
}

/// CRC-32 (IEEE, reflected, polynomial 0xEDB88320) as PNG chunks carry it.
private func crc32(_ bytes: [UInt8]) -> UInt32 {
  var crc: UInt32 = 0xFFFF_FFFF
  for byte in bytes {
    crc ^= UInt32(byte)
    for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
  }
  return ~crc
}

private func bigEndian(_ value: UInt32) -> [UInt8] {
  [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
}

/// A PNG of just a header: signature, IHDR (`width x height`, `bitDepth`, RGB), an empty IDAT
/// and IEND, with correct CRCs (57 bytes).
private func pngHeader(width: UInt32, height: UInt32, bitDepth: UInt8) -> [UInt8] {
  func chunk(_ type: String, _ payload: [UInt8]) -> [UInt8] {
    let body = Array(type.utf8) + payload
    return bigEndian(UInt32(payload.count)) + body + bigEndian(crc32(body))
  }
  return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    + chunk("IHDR", bigEndian(width) + bigEndian(height) + [bitDepth, 2, 0, 0, 0]) + chunk("IDAT", [])
    + chunk("IEND", [])
}

/// `bytes` with the frame header (SOF0/SOF1/SOF2) claiming `width x height` pixels.
private func jpegClaiming(width: UInt16, height: UInt16, _ bytes: [UInt8]) -> [UInt8] {
  var out = bytes
  for i in 0..<(out.count - 9) where out[i] == 0xFF && (0xC0...0xC2).contains(out[i + 1]) {
    out[i + 5] = UInt8(height >> 8)
    out[i + 6] = UInt8(height & 0xFF)
    out[i + 7] = UInt8(width >> 8)
    out[i + 8] = UInt8(width & 0xFF)
    return out
  }
  Issue.record("no frame header")
  return out
}

/// The pixel at (x, y) of an RGB image `width` wide.
private func pixel(_ rgb: [UInt8], width: Int, _ x: Int, _ y: Int) -> [Int] {
  let i = (y * width + x) * 3
  return [Int(rgb[i]), Int(rgb[i + 1]), Int(rgb[i + 2])]
}

/// The centre pixels of the four 8x8 blocks of a 16x16 fixture, within `tolerance` of `expected`.
private func expectBlocks(_ rgb: [UInt8], _ expected: [[Int]], tolerance: Int, _ name: String) {
  for (index, colour) in expected.enumerated() {
    let got = pixel(rgb, width: 16, 8 * (index % 2) + 4, 8 * (index / 2) + 4)
    #expect(zip(got, colour).allSatisfy { abs($0 - $1) <= tolerance }, "\(name) block \(index): \(got) vs \(colour)")
  }
}

@Suite struct ImageDecodingTests {
  // MARK: Resource bombs

  @Test func progressiveJPEGBombIsRefusedFromItsHeader() throws {
    // 591 bytes claiming 65500x65500 (4.29 gigapixels): before the check moved ahead of
    // jpeg_start_decompress, libjpeg allocated ~12 GB of coefficients first.
    let bytes = [UInt8](FileManager.default.contents(atPath: imageFixture("progressive.jpg"))!)
    let bomb = jpegClaiming(width: 65500, height: 65500, bytes)
    let error = #expect(throws: DataError.self) { try JPEGImage.decode(bomb, source: "bomb.jpg") }
    #expect(
      error.map(oneLineDescription)
        == "bomb.jpg: image of 65500x65500 pixels is over the decoding budget of 100000000 pixels"
        + " (set MODELFOOL_MAX_PIXELS to raise it)")
    // An explicit budget works both ways: a small one refuses the genuine 16x16 file...
    let small = #expect(throws: DataError.self) { try JPEGImage.decode(bytes, source: "p.jpg", maxPixels: 255) }
    #expect(small.map(oneLineDescription)?.hasPrefix("p.jpg: image of 16x16 pixels is over the decoding budget of 255 pixels") == true)
    #expect(try JPEGImage.decode(bytes, maxPixels: 256).width == 16)
  }

  @Test func progressiveJPEGWithTooManyScansIsRefused() throws {
    // Each progressive scan is a pass over every coefficient: 600 copies of the fixture's last
    // scan (a valid refinement scan, repeated) exceed the limit of 500 (TurboJPEG's).
    let bytes = [UInt8](FileManager.default.contents(atPath: imageFixture("progressive.jpg"))!)
    let scans = (0..<(bytes.count - 1)).filter { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xDA }
    let end = bytes.count - 2  // the EOI marker
    #expect(Array(bytes[end...]) == [0xFF, 0xD9] && scans.count == 10)
    let last = Array(bytes[scans.last!..<end])
    let many = Array(bytes[..<end]) + Array([[UInt8]](repeating: last, count: 600).joined()) + [0xFF, 0xD9]
    let error = #expect(throws: DataError.self) { try JPEGImage.decode(many, source: "scans.jpg") }
    #expect(error.map(oneLineDescription) == "scans.jpg: corrupt or truncated JPEG file (more than 500 progressive scans)")
  }

  @Test func sixteenBitPNGBombIsRefusedFromItsHeader() throws {
    let folder = try makeTemporaryFolder("png-bomb")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    // 16384x16384 at 16 bits: 2^28 pixels, 2.9 GB of buffers allocated before libpng found
    // that the data was missing.
    let path = folder + "/bomb.png"
    let header = pngHeader(width: 16384, height: 16384, bitDepth: 16)
    #expect(header.count == 57)
    try Data(header).write(to: URL(fileURLWithPath: path))
    for read in [{ try PNGImage.read(path) }, { try ImageFile.read(path) }] {
      let error = #expect(throws: DataError.self) { _ = try read() }
      #expect(
        error.map(oneLineDescription)
          == "\(path): image of 16384x16384 pixels is over the decoding budget of 100000000 pixels"
          + " (set MODELFOOL_MAX_PIXELS to raise it)")
    }
    // Under the budget, the same kind of header gets libpng's one-line error about the data.
    let truncated = folder + "/truncated.png"
    try Data(pngHeader(width: 100, height: 100, bitDepth: 16)).write(to: URL(fileURLWithPath: truncated))
    let error = #expect(throws: DataError.self) { try PNGImage.read(truncated) }
    #expect(error.map(oneLineDescription)?.hasPrefix("\(truncated): corrupt or truncated PNG file (") == true)
  }

  @Test func budgetArithmeticIsOverflowChecked() throws {
    // 2^32 x 2^32 overflows Int64 when multiplied: still an over-budget error, never a trap.
    let huge = 1 << 32
    let error = #expect(throws: DataError.self) {
      try ImageBudget.checkedByteCount(width: huge, height: huge, channels: 3, maxPixels: .max, source: "x")
    }
    #expect(error.map(oneLineDescription)?.hasPrefix("x: image of 4294967296x4294967296 pixels is over the decoding budget") == true)
    // Pixels within Int but bytes not.
    let wide = #expect(throws: DataError.self) {
      try ImageBudget.checkedByteCount(width: 1 << 31, height: 1 << 31, channels: 3, maxPixels: .max, source: "y")
    }
    #expect(wide.map(oneLineDescription) == "y: image of 2147483648x2147483648x3 bytes overflows the address space")
    #expect(try ImageBudget.checkedByteCount(width: 640, height: 480, channels: 3, maxPixels: 640 * 480, source: "z") == 921_600)
    #expect(throws: DataError.self) { try ImageBudget.checkedByteCount(width: 0, height: 5, channels: 3, maxPixels: 10, source: "z") }
  }

  @Test func hdf5ImageStacksAreCheckedAgainstTheBudgetBeforeReading() throws {
    // 2 KB on disk, one 18,500 x 18,500 image declared (Tests/Fixtures/make_hostile_h5.py).
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures/hostile_huge_image.h5").path
    #expect { try ImageNetDataset.loadHDF5(path) } throws: {
      oneLineDescription($0) == "\(path): image of 18500x18500 pixels is over the decoding budget of 100000000 pixels (set MODELFOOL_MAX_PIXELS to raise it)"
    }
    // Many small images add up: 1,500 of 224 x 224 are 75 M pixels, over a budget of 50 M.
    #expect { try ImageBudget.checkImageStack(shape: [1500, 224, 224, 3], maxPixels: 50_000_000, source: "s.h5") } throws: {
      oneLineDescription($0) == "s.h5: 1500 images of 224x224 pixels are over the decoding budget of 50000000 pixels per file (set MODELFOOL_MAX_PIXELS to raise it)"
    }
    // 14 KB declaring 1,500 images of 224 x 224: 75 M pixels (under the pixel budget) that decode
    // to 15 bytes each (uint8 pixels and float32 inputs), over the 1 GiB decoded-size budget.
    let many = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("hostile_many_images.h5").path
    #expect { try ImageNetDataset.loadHDF5(many) } throws: {
      oneLineDescription($0) == "\(many): 1500 images of 224x224 pixels decode to 1128960000 bytes, over the budget of 1073741824 bytes per file (set MODELFOOL_MAX_DECODED_BYTES to raise it)"
    }
    #expect(1500 * 224 * 224 * ImageBudget.decodedBytesPerPixel == 1_128_960_000 && ImageBudget.defaultMaxDecodedBytes == 1 << 30)
    // 1,426 images fit, 1,427 do not (1427 x 224 x 224 x 15 = 1,074,017,280 > 2^30).
    try ImageBudget.checkImageStack(shape: [1500, 224, 224, 3], rows: 0..<1426, source: "s.h5")
    #expect { try ImageBudget.checkImageStack(shape: [1500, 224, 224, 3], rows: 0..<1427, source: "s.h5") } throws: {
      oneLineDescription($0).hasPrefix("s.h5: 1427 images of 224x224 pixels decode to 1074017280 bytes, over the budget of 1073741824 bytes")
    }
    try ImageBudget.checkImageStack(shape: [1500, 224, 224, 3], maxDecodedBytes: 1_128_960_000, source: "s.h5")
    #expect(try ImageBudget.maxDecodedBytes(nil, environment: ["MODELFOOL_MAX_DECODED_BYTES": "4_000_000_000"]) == 4_000_000_000)
    #expect(try ImageBudget.maxDecodedBytes(nil, environment: [:]) == 1 << 30)
    #expect { try ImageBudget.maxDecodedBytes(nil, environment: ["MODELFOOL_MAX_DECODED_BYTES": "0"]) } throws: {
      oneLineDescription($0) == "$MODELFOOL_MAX_DECODED_BYTES='0': expected a positive whole number of bytes (default 1073741824)"
    }
    // Only the rows read count; a shape that is not N x H x W x 3 is refused.
    try ImageBudget.checkImageStack(shape: [1500, 224, 224, 3], rows: 0..<16, maxPixels: 50_000_000, source: "s.h5")
    #expect(throws: DataError.self) { try ImageBudget.checkImageStack(shape: [2, 224, 224], maxPixels: 50_000_000, source: "s.h5") }
    #expect(throws: DataError.self) { try ImageBudget.checkImageStack(shape: [1 << 40, 1 << 12, 1 << 12, 3], maxPixels: .max, source: "s.h5") }
  }

  @Test func budgetFromTheEnvironment() throws {
    #expect(try ImageBudget.maxPixels(nil, environment: [:]) == 100_000_000)
    #expect(try ImageBudget.maxPixels(nil, environment: ["MODELFOOL_MAX_PIXELS": "400000000"]) == 400_000_000)
    #expect(try ImageBudget.maxPixels(nil, environment: ["MODELFOOL_MAX_PIXELS": "250_000_000"]) == 250_000_000)
    #expect(try ImageBudget.maxPixels(7, environment: ["MODELFOOL_MAX_PIXELS": "400000000"]) == 7)
    let error = #expect(throws: DataError.self) {
      try ImageBudget.maxPixels(nil, environment: ["MODELFOOL_MAX_PIXELS": "lots"])
    }
    #expect(
      error.map(oneLineDescription)
        == "$MODELFOOL_MAX_PIXELS='lots': expected a positive whole number of pixels (default 100000000)")
    #expect(throws: DataError.self) { try ImageBudget.maxPixels(0) }
    // An empty value is an error, not the default.
    #expect { try ImageBudget.maxPixels(nil, environment: ["MODELFOOL_MAX_PIXELS": ""]) } throws: {
      oneLineDescription($0) == "$MODELFOOL_MAX_PIXELS='': expected a positive whole number of pixels (default 100000000)"
    }
  }

  // MARK: Colour spaces and formats

  @Test func cmykGreyscaleAndPNGNamedJPEGDecodeToRGB() throws {
    // Expected values are the colours the fixture script painted; CMYK through Pillow's rule
    // R = (255 - C)(255 - K) / 255. JPEG blocks are flat 8x8 blocks at quality 95: within 3.
    let cmyk: [[Int]] = [[0, 0, 0, 0], [200, 40, 0, 0], [0, 160, 220, 30], [60, 60, 60, 120]]
    let cmykRGB = cmyk.map { (v: [Int]) -> [Int] in (0..<3).map { (c: Int) -> Int in ((255 - v[c]) * (255 - v[3]) + 127) / 255 } }
    #expect(cmykRGB == [[255, 255, 255], [55, 215, 255], [225, 84, 31], [103, 103, 103]])
    let cmykImage = try ImageFile.read(imageFixture("cmyk_adobe.jpg"))
    #expect(cmykImage.width == 16 && cmykImage.height == 16)
    expectBlocks(cmykImage.rgb, cmykRGB, tolerance: 3, "cmyk_adobe.jpg")

    // Without the Adobe marker the stored values are taken as plain (not inverted) CMYK, as
    // Pillow does: R = C * K / 255 on the bytes in the file (255 - painted value).
    var plain = [UInt8](FileManager.default.contents(atPath: imageFixture("cmyk_adobe.jpg"))!)
    let app14 = (0..<(plain.count - 1)).first { plain[$0] == 0xFF && plain[$0 + 1] == 0xEE }!
    let length = Int(plain[app14 + 2]) << 8 | Int(plain[app14 + 3])
    plain.removeSubrange(app14..<(app14 + 2 + length))
    let plainImage = try JPEGImage.decode(plain)
    let plainRGB = cmyk.map { (v: [Int]) -> [Int] in (0..<3).map { (c: Int) -> Int in (v[c] * v[3] + 127) / 255 } }
    expectBlocks(plainImage.rgb, plainRGB, tolerance: 3, "no APP14")

    let gray = try ImageFile.read(imageFixture("gray.jpg"))
    expectBlocks(gray.rgb, [[0, 0, 0], [80, 80, 80], [170, 170, 170], [255, 255, 255]], tolerance: 2, "gray.jpg")
    let greyPixels = (0..<(16 * 16)).map { pixel(gray.rgb, width: 16, $0 % 16, $0 / 16) }
    #expect(greyPixels.allSatisfy { (p: [Int]) -> Bool in p[0] == p[1] && p[1] == p[2] })

    // A PNG named .JPEG: dispatched by its signature, decoded exactly.
    let png = try ImageFile.read(imageFixture("png_named.JPEG"))
    expectBlocks(png.rgb, [[255, 0, 0], [0, 255, 0], [0, 0, 255], [250, 200, 30]], tolerance: 0, "png_named.JPEG")
    // Through the preprocessing pipeline too (no resize, no crop: the pixels themselves).
    let steps = ImagePreprocessing(resizeShorterSide: nil, centerCrop: nil)
    #expect(try steps.geometry(contentsOf: imageFixture("png_named.JPEG")).rgb == png.rgb)
    #expect(try steps.geometry(contentsOf: imageFixture("cmyk_adobe.jpg"), dctScaling: true).rgb == cmykImage.rgb)
  }

  @Test func progressiveFixtureDecodes() throws {
    let image = try JPEGImage.read(imageFixture("progressive.jpg"))
    #expect(image.width == 16 && image.height == 16)
    // 4:2:0 chroma at 8x8 blocks of saturated colours: within 40 of the painted colours
    // (chroma is shared between neighbouring blocks at their edges, not at their centres).
    expectBlocks(image.rgb, [[255, 0, 0], [0, 255, 0], [0, 0, 255], [250, 200, 30]], tolerance: 40, "progressive.jpg")
  }

  // MARK: DCT scaling

  @Test func dctScaleChoice() {
    #expect(JPEGImage.dctScale(width: 512, height: 512, targetShorterSide: 256) == 4)
    #expect(JPEGImage.dctScale(width: 1024, height: 683, targetShorterSide: 256) == 3)  // ceil(683 * 3 / 8) = 257
    #expect(JPEGImage.dctScale(width: 4000, height: 3000, targetShorterSide: 256) == 1)  // 375
    #expect(JPEGImage.dctScale(width: 500, height: 375, targetShorterSide: 256) == 6)  // 282; 5/8 gives 235
    #expect(JPEGImage.dctScale(width: 200, height: 300, targetShorterSide: 256) == 8)  // never upscale
  }

  @Test func dctScaledDecodeIsCloseToFullDecode() throws {
    // Every shipped photo through resize 256 / crop 224, with and without DCT scaling: same
    // size, mean absolute difference under 6 levels of 255 (measured 0.39-4.93 per photo, 1.92
    // on average; Pillow's `draft` decode gives the same on the 512x512 photos).
    for reference in imagenetSampleReference {
      let path = imagenetSampleFolder + "/" + reference.name
      let full = try ImagePreprocessing.unitRange.geometry(contentsOf: path)
      let scaled = try ImagePreprocessing.unitRange.geometry(contentsOf: path, dctScaling: true)
      #expect(fnv1a64(full.rgb) == reference.cropped, "\(reference.name): the default stays Pillow-exact")
      #expect(scaled.width == 224 && scaled.height == 224 && scaled.rgb.count == full.rgb.count)
      let difference = zip(full.rgb, scaled.rgb).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }
      let mean = Double(difference) / Double(full.rgb.count)
      #expect(mean < 6, "\(reference.name): mean absolute difference \(mean)")
    }
    // The decoder's own output at 4/8: a 512x512 photo comes out 256x256.
    let half = try JPEGImage.read(imagenetSampleFolder + "/imagenet_00_243.jpg", targetShorterSide: 256)
    #expect(half.width == 256 && half.height == 256)
    let wide = try ImageFile.read(imagenetSampleFolder + "/imagenet_10_541.jpg", targetShorterSide: 256)
    #expect(wide.width == 384 && wide.height == 257)
  }

  // MARK: Resizing

  @Test func windowedResizeEqualsResizeThenCrop() {
    var generator = SplitMix(seed: 7)
    let (width, height) = (97, 61)
    let pixels = (0..<(width * height * 3)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
    for (toWidth, toHeight) in [(40, 30), (150, 61), (97, 90), (33, 33)] {
      let full = ImageResize.bicubic(pixels, width: width, height: height, channels: 3, toWidth: toWidth, toHeight: toHeight)
      let window = (x: toWidth / 5, y: toHeight / 4, width: toWidth / 2, height: toHeight / 2)
      let part = ImageResize.bicubic(
        pixels, width: width, height: height, channels: 3, toWidth: toWidth, toHeight: toHeight, window: window)
      var expected: [UInt8] = []
      for y in window.y..<(window.y + window.height) {
        let start = (y * toWidth + window.x) * 3
        expected += full[start..<(start + window.width * 3)]
      }
      #expect(part == expected, "\(toWidth)x\(toHeight)")
    }
  }
}

/// A tiny seeded generator for test data (SplitMix64).
private struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
