import CZlib
import Foundation

/// Reads gzip-compressed files through zlib (`gzopen`/`gzread`).
public enum Gzip {
  /// The decompressed bytes of the gzip file at `path`.
  ///
  /// Throws a one-line `DataError` naming the file when it is missing, is not gzip data
  /// (zlib would otherwise pass plain files through unchanged), or is corrupt or truncated
  /// (zlib's message, e.g. "unexpected end of file", is included).
  public static func read(path: String) throws -> [UInt8] {
    guard FileManager.default.fileExists(atPath: path) else {
      throw DataError("\(path): file not found")
    }
    guard let file = gzopen(path, "rb") else {
      throw DataError("\(path): cannot open for reading")
    }
    defer { gzclose(file) }
    _ = gzbuffer(file, 1 << 17)

    var out: [UInt8] = []
    let chunk = 1 << 18
    var buffer = [UInt8](repeating: 0, count: chunk)
    while true {
      let n = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32(chunk)) }
      if n < 0 { throw DataError("\(path): corrupt gzip data (\(zlibMessage(file, path: path)))") }
      if n == 0 { break }
      out.append(contentsOf: buffer[0..<Int(n)])
    }
    // A clean end of file still sets an error when the stream stopped early.
    var code: Int32 = 0
    _ = gzerror(file, &code)
    if code != Z_OK && code != Z_STREAM_END {
      throw DataError("\(path): corrupt gzip data (\(zlibMessage(file, path: path)))")
    }
    if gzdirect(file) != 0 {
      throw DataError("\(path): not gzip data (no gzip header)")
    }
    return out
  }

  /// zlib's error text without the "path: " prefix it adds.
  private static func zlibMessage(_ file: gzFile, path: String) -> String {
    var code: Int32 = 0
    guard let m = gzerror(file, &code) else { return "zlib error \(code)" }
    let text = String(cString: m)
    return text.hasPrefix(path + ": ") ? String(text.dropFirst(path.count + 2)) : text
  }
}
