import Foundation
import ModelFoolData
import Testing

/// `<repo>/datasets/imagenet-sample`, found from this source file.
let imagenetSampleFolder: String = URL(fileURLWithPath: #filePath)
  .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  .appendingPathComponent("datasets/imagenet-sample").path

/// 64-bit FNV-1a of a byte array (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
  var hash: UInt64 = 0xcbf2_9ce4_8422_2325
  for byte in bytes {
    hash ^= UInt64(byte)
    hash = hash &* 0x0000_0100_0000_01b3
  }
  return hash
}

/// Per shipped photo: name, width, height, FNV-1a of the decoded RGB bytes, and FNV-1a of the
/// 224x224 RGB bytes after resize-256 / centre-crop-224. Reference values computed with
/// Pillow 11 (`numpy.asarray(Image.open(f).convert("RGB")).tobytes()`, then
/// `resize(..., Image.BICUBIC)` and `crop` with torchvision's rounding).
let imagenetSampleReference: [(name: String, width: Int, height: Int, decoded: UInt64, cropped: UInt64)] = [
  ("imagenet_00_243.jpg", 512, 512, 8_794_333_921_499_180_069, 4_400_245_766_099_473_892),
  ("imagenet_01_559.jpg", 512, 512, 942_329_886_793_162_075, 16_069_180_504_133_094_646),
  ("imagenet_02_438.jpg", 512, 512, 4_828_567_951_263_705_442, 3_529_068_021_275_781_952),
  ("imagenet_03_990.jpg", 512, 512, 14_045_904_223_009_723_493, 18_424_963_720_047_829_995),
  ("imagenet_04_949.jpg", 512, 512, 14_063_876_602_492_955_265, 2_337_730_406_973_861_170),
  ("imagenet_05_853.jpg", 512, 512, 11_853_580_004_456_051_355, 4_231_084_059_147_652_877),
  ("imagenet_06_609.jpg", 512, 512, 1_919_038_281_285_137_004, 16_742_676_896_659_965_417),
  ("imagenet_07_609.jpg", 512, 512, 2_314_776_259_651_515_481, 6_089_734_794_848_031_631),
  ("imagenet_08_915.jpg", 512, 512, 3_102_918_618_716_223_315, 14_113_356_187_677_529_214),
  ("imagenet_09_455.jpg", 512, 512, 7_287_915_756_275_166_165, 7_500_703_921_637_375_039),
  ("imagenet_10_541.jpg", 1024, 683, 16_400_477_379_997_931_346, 11_412_611_472_535_599_244),
  ("imagenet_11_630.jpg", 512, 512, 6_113_207_205_186_411_865, 17_903_633_712_968_253_171),
  ("imagenet_12_741.jpg", 512, 512, 16_870_939_534_999_589_183, 8_580_635_141_175_288_993),
  ("imagenet_13_471.jpg", 512, 512, 6_589_089_649_970_290_359, 14_029_772_109_760_622_819),
  ("imagenet_14_129.jpg", 512, 512, 13_020_760_004_616_207_930, 7_620_140_538_600_319_176),
  ("imagenet_15_99.jpg", 512, 512, 13_496_246_944_104_648_508, 13_968_133_267_270_813_418),
  ("imagenet_16_251.jpg", 512, 512, 7_834_420_694_225_415_406, 11_501_012_352_110_395_555),
  ("imagenet_17_22.jpg", 512, 512, 2_776_924_446_899_084_543, 5_302_869_441_038_372_749),
  ("imagenet_18_317.jpg", 512, 512, 9_561_373_545_422_520_414, 7_233_668_068_906_027_079),
  ("imagenet_19_305.jpg", 512, 512, 13_078_647_312_309_554_801, 8_699_756_174_578_834_018),
]

@Suite struct JPEGTests {
  @Test func decodesAllShippedPhotosLikePillow() throws {
    let names = try FileManager.default.contentsOfDirectory(atPath: imagenetSampleFolder)
      .filter { $0.hasSuffix(".jpg") }.sorted()
    #expect(names.count == 20)
    #expect(names == imagenetSampleReference.map(\.name))
    for reference in imagenetSampleReference {
      let image = try JPEGImage.read(imagenetSampleFolder + "/" + reference.name)
      #expect(image.width == reference.width && image.height == reference.height, "\(reference.name)")
      #expect(image.rgb.count == reference.width * reference.height * 3)
      #expect(fnv1a64(image.rgb) == reference.decoded, "\(reference.name)")
    }
  }

  @Test func knownPixels() throws {
    // Pillow: Image.open("imagenet_00_243.jpg").convert("RGB").getpixel((x, y)).
    let photo = try JPEGImage.read(imagenetSampleFolder + "/imagenet_00_243.jpg")
    func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(photo.rgb[((y * 512 + x) * 3)..<((y * 512 + x) * 3 + 3)]) }
    #expect(pixel(0, 0) == [194, 175, 142])
    #expect(pixel(20, 10) == [197, 177, 140])
    #expect(pixel(256, 256) == [38, 16, 5])
    let wide = try JPEGImage.read(imagenetSampleFolder + "/imagenet_10_541.jpg")
    #expect(Array(wide.rgb[0..<3]) == [210, 201, 192])
    let center = (341 * 1024 + 512) * 3
    #expect(Array(wide.rgb[center..<(center + 3)]) == [89, 16, 27])
  }

  /// 8x8 JPEGs written by Pillow 11: an Adobe CMYK file (C = 30x, M = 40, Y = 20y, K = 50) and a
  /// grayscale ramp (4 * (8y + x)); expected pixels are Pillow's `convert("RGB")`.
  @Test func grayscaleAndCMYKConvertToRGB() throws {
    let cmyk =
      "ffd8ffee000e41646f626500640000000000ffdb004300010101010101010101010101010101010101010101010101010101"
      + "01010101010101010101010101010101010101010101010101010101010101010101010101ffc00014080008000804431100"
      + "4d11005911004b1100ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b510000201"
      + "0303020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282"
      + "090a161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778"
      + "797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5"
      + "d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda000e0443004d0059004b00003f00fac3fe0e23ff0099e7"
      + "fee23ffb52bfab8afdc8ff0087b6ff00d4cdff00937ffd9d7f4d15ffd9"
    let gray =
      "ffd8ffe000104a46494600010100000100010000ffdb00430001010101010101010101010101010101010101010101010101"
      + "010101010101010101010101010101010101010101010101010101010101010101010101010101ffc0000b08000800080101"
      + "1100ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b51000020103030204030505"
      + "04040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a"
      + "25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a8384858687"
      + "88898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2"
      + "e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00cff86dff0006dc7fc7bffc505fddff00986fd3fe9957"
      + "ffd9"
    for (hex, expected) in [
      (cmyk, [[205, 173, 205], [84, 173, 157], [36, 173, 92]]),
      (gray, [[0, 0, 0], [116, 116, 116], [252, 252, 252]]),
    ] {
      let image = try JPEGImage.decode(bytesFromHex(hex))
      #expect(image.width == 8 && image.height == 8)
      func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(image.rgb[((y * 8 + x) * 3)..<((y * 8 + x) * 3 + 3)]) }
      #expect([pixel(0, 0), pixel(5, 3), pixel(7, 7)] == expected.map { $0.map(UInt8.init) })
    }
  }

  @Test func truncatedAndGarbageFilesGiveOneLineErrors() throws {
    let folder = try makeTemporaryFolder("jpeg")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let bytes = [UInt8](FileManager.default.contents(atPath: imagenetSampleFolder + "/imagenet_02_438.jpg")!)
    for fraction in [2, 5, 50] {
      let truncated = folder + "/cut\(fraction).jpg"
      try Data(bytes.prefix(bytes.count / fraction)).write(to: URL(fileURLWithPath: truncated))
      let error = #expect(throws: DataError.self) { try JPEGImage.read(truncated) }
      #expect(
        error.map(oneLineDescription)
          == "\(truncated): corrupt or truncated JPEG file (premature end of JPEG data (truncated file))")
    }
    // A marker (here an end-of-image) inside the compressed data, halfway through the
    // file: libjpeg would zero-fill the rest of the image and warn; it is refused instead.
    let broken = folder + "/broken.jpg"
    let middle = bytes.count / 2
    try Data(bytes.prefix(middle) + [0xFF, 0xD9] + bytes.suffix(from: middle)).write(to: URL(fileURLWithPath: broken))
    let brokenError = #expect(throws: DataError.self) { try JPEGImage.read(broken) }
    #expect(
      brokenError.map(oneLineDescription)
        == "\(broken): corrupt or truncated JPEG file (a marker inside the compressed data (damaged file))")
    let headerOnly = folder + "/header.jpg"
    try Data(bytes.prefix(10)).write(to: URL(fileURLWithPath: headerOnly))
    let headerError = #expect(throws: DataError.self) { try JPEGImage.read(headerOnly) }
    #expect(headerError.map(oneLineDescription)?.hasPrefix("\(headerOnly): corrupt or truncated JPEG file (") == true)

    let corrupt = folder + "/corrupt.jpg"
    try Data([0xFF, 0xD8, 0xFF] + [UInt8](repeating: 0x17, count: 500)).write(to: URL(fileURLWithPath: corrupt))
    let corruptError = #expect(throws: DataError.self) { try JPEGImage.read(corrupt) }
    #expect(corruptError.map(oneLineDescription)?.hasPrefix("\(corrupt): corrupt or truncated JPEG file (") == true)

    let text = folder + "/text.jpg"
    try Data("hello, world".utf8).write(to: URL(fileURLWithPath: text))
    let textError = #expect(throws: DataError.self) { try JPEGImage.read(text) }
    #expect(textError.map(oneLineDescription) == "\(text): not a JPEG file (no start-of-image marker)")

    let missing = folder + "/missing.jpg"
    let missingError = #expect(throws: DataError.self) { try JPEGImage.read(missing) }
    #expect(missingError.map(oneLineDescription) == "\(missing): file not found")
  }
}
