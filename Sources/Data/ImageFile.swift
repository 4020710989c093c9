import Foundation

/// Reading an image file of either supported format, chosen by its first bytes.
public enum ImageFile {
  /// File name extensions treated as images when scanning folders (compared lowercased).
  public static let extensions: Set<String> = ["jpg", "jpeg", "png"]

  /// Reads a JPEG or PNG file as 8-bit RGB (`height x width x 3`, row-major), deciding the
  /// format from the file's signature rather than its name.
  public static func read(_ path: String) throws -> (rgb: [UInt8], width: Int, height: Int) {
    guard let handle = FileHandle(forReadingAtPath: path) else {
      throw DataError("\(path): file not found")
    }
    let head = (try? handle.read(upToCount: 8)).map { [UInt8]($0) } ?? []
    try? handle.close()
    if head.starts(with: [0xFF, 0xD8]) { return try JPEGImage.read(path) }
    if head.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return try PNGImage.read(path) }
    throw DataError("\(path): not a JPEG or PNG image")
  }
}
