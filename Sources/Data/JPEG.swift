// Implementation note: libjpeg signals fatal errors by calling `error_exit`, which must not
// return (the default calls exit()). Swift cannot setjmp/longjmp, so the decode runs inside
// one C function in Sources/CJPEG/shim.h (`mf_decode_jpeg`) that sets the jump point, installs
// an error_exit that longjmps back to it, and turns a truncated file into an error.

import CJPEG
import Foundation

/// Decoding JPEG files (libjpeg-turbo) to 8-bit RGB.
///
/// Output is row-major, top row first, `RGBRGB...` (`height * width * 3` bytes), the layout of
/// `numpy.asarray(PIL.Image.open(path).convert("RGB"))`. libjpeg's default integer IDCT and
/// fancy upsampling are used, as Pillow does, so pixels match Pillow built on the same libjpeg.
public enum JPEGImage {
  /// Reads and decodes a JPEG file; grayscale is replicated to RGB, CMYK/YCCK converted.
  /// Missing, non-JPEG, corrupt or truncated files throw a one-line `DataError` naming the file.
  public static func read(_ path: String) throws -> (rgb: [UInt8], width: Int, height: Int) {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
      throw DataError("\(path): file not found")
    }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DataError("\(path): cannot read the file")
    }
    return try decode([UInt8](data), source: path)
  }

  /// Decodes JPEG bytes held in memory; `source` names them in error messages.
  public static func decode(_ bytes: [UInt8], source: String = "<memory>") throws -> (rgb: [UInt8], width: Int, height: Int) {
    guard bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else {
      throw DataError("\(source): not a JPEG file (no start-of-image marker)")
    }
    var output: UnsafeMutablePointer<UInt8>? = nil
    var width: Int32 = 0
    var height: Int32 = 0
    var message = [CChar](repeating: 0, count: 256)
    let status = bytes.withUnsafeBufferPointer { buffer in
      mf_decode_jpeg(buffer.baseAddress, UInt(buffer.count), &output, &width, &height, &message)
    }
    guard status == 0, let output else {
      let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
      throw DataError("\(source): corrupt or truncated JPEG file (\(text.isEmpty ? "unknown libjpeg error" : text))")
    }
    defer { free(output) }
    let count = Int(width) * Int(height) * 3
    return (Array(UnsafeBufferPointer(start: output, count: count)), Int(width), Int(height))
  }
}
