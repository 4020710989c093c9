import Foundation

/// Opening files from outside without trusting them: a named input must be a regular file (a
/// FIFO, device or socket would block a read or never end), and a side file (class index, label
/// list, count file, calibration) is read whole only below a byte limit and, for line-based text,
/// with every line below a line limit, before anything is decoded from it.
///
/// Errors are one line and name the file: "val/x.JPEG: is a FIFO, not a regular file",
/// "LOC_val_solution.csv: line 3 is over 65536 bytes".
public enum InputFile {
  /// The default byte limit of a side file: 64 MiB (an ILSVRC `LOC_val_solution.csv` is about
  /// 4 MB, a count file of 50,000 examples about 6 MB).
  public static let defaultMaxBytes = 64 << 20
  /// The longest line of a line-based side file: 64 KiB (the longest ILSVRC line is under 1 KB).
  public static let defaultMaxLineBytes = 1 << 16

  /// What kind of file system object `path` is, when not a regular file: "a folder", "a FIFO",
  /// ...; nil for a regular file. Symbolic links are followed. Throws when `path` cannot be
  /// examined (missing, no permission).
  public static func irregularKind(_ path: String) throws -> String? {
    var status = stat()
    guard stat(path, &status) == 0 else {
      let code = errno
      throw DataError(code == ENOENT ? "\(path): file not found" : "\(path): \(AtomicFile.reason(errno: code))")
    }
    switch status.st_mode & S_IFMT {
    case S_IFREG: return nil
    case S_IFDIR: return "a folder"
    case S_IFCHR, S_IFBLK: return "a device"
    case S_IFIFO: return "a FIFO"
    case S_IFSOCK: return "a socket"
    default: return "not a regular file"
    }
  }

  /// Throws unless `path` is a regular file (symbolic links followed), naming what it is instead.
  public static func requireRegular(_ path: String) throws {
    if let kind = try irregularKind(path) { throw DataError("\(path): is \(kind), not a regular file") }
  }

  /// Whether `path` is a regular file (false for missing paths).
  public static func isRegular(_ path: String) -> Bool {
    do { return try irregularKind(path) == nil } catch { return false }
  }

  /// The names of `names` (files in `folder`) that are regular files, examined with `stat(2)`
  /// only, so that a FIFO named like an image is never opened (which would block); the others
  /// (FIFOs, devices, sockets, folders, links to none) are appended to `skipped` as
  /// `prefix + name`.
  public static func regularFiles(_ names: [String], in folder: String, prefix: String = "", skipped: inout [String]) -> [String] {
    var kept: [String] = []
    for name in names {
      if isRegular(folder + "/" + name) { kept.append(name) } else { skipped.append(prefix + name) }
    }
    return kept
  }

  /// Sends `log` one line for the files of `root` skipped by ``regularFiles(_:in:prefix:skipped:)``
  /// (how many, and the first), when there are any.
  public static func reportSkipped(_ skipped: [String], under root: String, log: (String) -> Void) {
    guard let first = skipped.first else { return }
    log("\(root): skipped \(skipped.count) file(s) named like images that are not regular files (FIFOs, devices, sockets), e.g. \(first)")
  }

  /// The bytes of the regular file `path`, at most `maxBytes` of them (more is an error naming
  /// the limit), and with `maxLineBytes`, no line (up to `\n`) longer than that. The file is
  /// opened without blocking and checked again after opening (it may be swapped for a FIFO).
  public static func bytes(_ path: String, maxBytes: Int = defaultMaxBytes, maxLineBytes: Int? = nil) throws -> [UInt8] {
    try requireRegular(path)
    let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    guard descriptor >= 0 else { throw DataError("\(path): cannot read (\(AtomicFile.reason(errno: errno)))") }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
      throw DataError("\(path): is not a regular file")
    }
    guard Int(status.st_size) <= maxBytes else {
      throw DataError("\(path): \(status.st_size) bytes is over the limit of \(maxBytes) bytes for this kind of file")
    }
    var out = [UInt8](repeating: 0, count: Int(status.st_size))
    var done = 0
    while done < out.count {
      let n = out.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, $0.count - done, off_t(done)) }
      if n < 0 {
        if errno == EINTR { continue }
        throw DataError("\(path): cannot read (\(AtomicFile.reason(errno: errno)))")
      }
      if n == 0 { break }
      done += n
    }
    out.removeLast(out.count - done)  // the file shrank while read
    if let maxLineBytes { try checkLines(out, path: path, maxLineBytes: maxLineBytes) }
    return out
  }

  /// Throws when a line of `bytes` is longer than `maxLineBytes`, naming the line.
  public static func checkLines(_ bytes: [UInt8], path: String, maxLineBytes: Int) throws {
    var line = 1, start = 0
    for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\n") {
      if i - start > maxLineBytes { throw DataError("\(path): line \(line) is over \(maxLineBytes) bytes") }
      line += 1
      start = i + 1
    }
    if bytes.count - start > maxLineBytes { throw DataError("\(path): line \(line) is over \(maxLineBytes) bytes") }
  }

  /// The one-line error for a field of a side file that breaks its invariant:
  /// "FILE: FIELD is VALUE; expected EXPECTED".
  public static func fieldError(_ file: String, _ field: String, _ value: Any, expected: String, settings: [String] = []) -> DataError {
    DataError("\(file): \(field) is \(value); expected \(expected)", settings: settings)
  }

  /// The UTF-8 text of a side file read with ``bytes(_:maxBytes:maxLineBytes:)``.
  public static func text(_ path: String, maxBytes: Int = defaultMaxBytes, maxLineBytes: Int? = nil) throws -> String {
    let bytes = try bytes(path, maxBytes: maxBytes, maxLineBytes: maxLineBytes)
    guard let text = String(validating: bytes, as: UTF8.self) else { throw DataError("\(path): not UTF-8 text") }
    return text
  }

  /// A JSON side file: its value (``JSONSerialization``), after checking that no object in it
  /// repeats a key (JSONSerialization silently keeps the last of duplicate keys).
  public static func json(_ path: String, maxBytes: Int = defaultMaxBytes) throws -> Any {
    let bytes = try bytes(path, maxBytes: maxBytes)
    let value: Any
    do { value = try JSONSerialization.jsonObject(with: Data(bytes)) } catch { throw DataError("\(path): not valid JSON") }
    if let key = JSONKeys.firstDuplicate(in: bytes) { throw DataError("\(path): key \"\(key)\" appears more than once") }
    return value
  }
}

/// A scan of JSON text (already known to be valid) for an object that repeats a key.
public enum JSONKeys {
  /// The first key that an object of the JSON text `bytes` holds twice (as written, escapes
  /// decoded), or nil. Nesting is tracked with an explicit stack (no recursion).
  public static func firstDuplicate(in bytes: [UInt8]) -> String? {
    // One set of seen keys per open object; nil marks an open array.
    var stack: [Set<String>?] = []
    var expectingKey = false
    var i = 0
    while i < bytes.count {
      let b = bytes[i]
      switch b {
      case UInt8(ascii: "{"):
        stack.append([])
        expectingKey = true
      case UInt8(ascii: "["):
        stack.append(nil)
        expectingKey = false
      case UInt8(ascii: "}"), UInt8(ascii: "]"):
        if !stack.isEmpty { stack.removeLast() }
        expectingKey = false
      case UInt8(ascii: ","):
        expectingKey = stack.last.map { $0 != nil } ?? false
      case UInt8(ascii: "\""):
        let start = i
        i += 1
        while i < bytes.count, bytes[i] != UInt8(ascii: "\"") { i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1 }
        if expectingKey, let top = stack.indices.last, stack[top] != nil {
          let raw = bytes[start...min(i, bytes.count - 1)]
          let key = raw.contains(UInt8(ascii: "\\"))
            ? (try? JSONSerialization.jsonObject(with: Data(raw), options: .fragmentsAllowed) as? String) ?? String(decoding: raw, as: UTF8.self)
            : String(decoding: raw.dropFirst().dropLast(), as: UTF8.self)
          if stack[top]!.insert(key).inserted == false { return key }
          expectingKey = false
        }
      default: break
      }
      i += 1
    }
    return nil
  }
}
