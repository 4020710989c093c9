import Foundation
import ModelFoolData
import Testing

/// Bytes of a hexadecimal string.
func bytesFromHex(_ hex: String) -> [UInt8] {
  var out: [UInt8] = []
  var index = hex.startIndex
  while index < hex.endIndex {
    let next = hex.index(index, offsetBy: 2)
    out.append(UInt8(hex[index..<next], radix: 16)!)
    index = next
  }
  return out
}

@Suite struct PNGTests {
  @Test func rgbAndGrayRoundTripsAreExact() throws {
    let folder = try makeTemporaryFolder("png")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let (width, height) = (7, 5)
    let rgb: [UInt8] = (0..<(width * height * 3)).map { (i: Int) -> UInt8 in UInt8((i * 97 + 13) % 256) }
    try PNGImage.write(rgb: rgb, width: width, height: height, to: folder + "/rgb.png")
    let back = try PNGImage.read(folder + "/rgb.png")
    #expect(back.width == 7 && back.height == 5 && back.rgb == rgb)

    let gray: [UInt8] = (0..<(width * height)).map { (i: Int) -> UInt8 in UInt8((i * 53) % 256) }
    try PNGImage.write(gray: gray, width: width, height: height, to: folder + "/gray.png")
    let grayBack = try PNGImage.read(folder + "/gray.png")
    #expect(grayBack.width == 7 && grayBack.height == 5)
    #expect(grayBack.rgb == gray.flatMap { [$0, $0, $0] })
  }

  /// Small PNGs written by Pillow 11; expected pixels are `Image.convert("RGB")`'s, except the
  /// 16-bit file, which is scaled by v * 255 / 65535 rounded (Pillow clamps instead).
  @Test func paletteAlphaAndSixteenBitFiles() throws {
    let folder = try makeTemporaryFolder("png")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let cases: [(name: String, hex: String, width: Int, height: Int, rgb: [UInt8])] = [
      (
        "palette 3x2",
        "89504e470d0a1a0a0000000d4948445200000003000000020203000000e01a8e890000000c504c5445ff000000ff000000ff0a141e228829040000000c49444154789c639060780200013000fd56cd1c730000000049454e44ae426082",
        3, 2, [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 0, 0, 255, 0, 255, 0]
      ),
      (
        "RGBA alpha 0/128/255",
        "89504e470d0a1a0a0000000d49484452000000030000000108060000001be014b40000001549444154789c63e41291639093936b909393ab0700091d01f13bf9dcdc0000000049454e44ae426082",
        3, 1, [10, 20, 30, 40, 50, 60, 70, 80, 90]
      ),
      (
        "gray + alpha",
        "89504e470d0a1a0a0000000d49484452000000020000000108040000005e2bb7010000000d49444154789c63606738f11f0002b001cff03027ba0000000049454e44ae426082",
        2, 1, [7, 7, 7, 200, 200, 200]
      ),
      (
        "16-bit gray 0, 25700, 65535, 1000",
        "89504e470d0a1a0a0000000d49484452000000040000000110000000008cc78c520000001149444154789c6360604849f9ff9ff905000c3c03b23f9702c60000000049454e44ae426082",
        4, 1, [0, 0, 0, 100, 100, 100, 255, 255, 255, 4, 4, 4]
      ),
    ]
    for (n, item) in cases.enumerated() {
      let path = folder + "/case\(n).png"
      try Data(bytesFromHex(item.hex)).write(to: URL(fileURLWithPath: path))
      let image = try PNGImage.read(path)
      #expect(image.width == item.width && image.height == item.height, "\(item.name)")
      #expect(image.rgb == item.rgb, "\(item.name)")
    }
  }

  @Test func badFilesAndSizesGiveOneLineErrors() throws {
    let folder = try makeTemporaryFolder("png")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let missing = folder + "/missing.png"
    var error = #expect(throws: DataError.self) { try PNGImage.read(missing) }
    #expect(error.map(oneLineDescription) == "\(missing): file not found")

    let garbage = folder + "/garbage.png"
    try Data(repeating: 7, count: 100).write(to: URL(fileURLWithPath: garbage))
    error = #expect(throws: DataError.self) { try PNGImage.read(garbage) }
    #expect(error.map(oneLineDescription)?.hasPrefix("\(garbage): not a readable PNG file (") == true)

    let good = folder + "/good.png"
    let noise: [UInt8] = (0..<(64 * 64 * 3)).map { (i: Int) -> UInt8 in UInt8((i &* 2_654_435_761) >> 13 & 0xFF) }
    try PNGImage.write(rgb: noise, width: 64, height: 64, to: good)
    let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
    let truncated = folder + "/truncated.png"
    try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
    error = #expect(throws: DataError.self) { try PNGImage.read(truncated) }
    #expect(error.map(oneLineDescription)?.hasPrefix("\(truncated): corrupt or truncated PNG file (") == true)

    error = #expect(throws: DataError.self) { try PNGImage.write(rgb: [1, 2, 3], width: 2, height: 1, to: good) }
    #expect(error.map(oneLineDescription) == "\(good): a 2x1 PNG with 3 channel(s) needs 6 bytes, got 3")
  }
}
