import Foundation

/// Replaces a file all at once or not at all: the content is written to a temporary file in the
/// same folder, synced to disk, then renamed over the destination (`rename(2)` is atomic within
/// one file system). If writing fails, the temporary file is removed and an existing file at the
/// destination is left untouched. Only a regular file is ever replaced: a device (`/dev/full`), a
/// FIFO, a socket, a folder or a symbolic link at the destination is refused before anything is
/// written. While it exists, the temporary file is listed in ``TemporaryPaths`` so that a front
/// end's signal handler can remove it.
public enum AtomicFile {
  /// Runs `body` with a temporary path next to `path`, then renames it to `path` on success.
  /// `body` must create the file at the path it is given (an empty file is already there).
  /// Errors name `path`, not the temporary file, and give the system's reason
  /// ("cannot write runs/x/model.h5: read-only file system").
  public static func write(to path: String, _ body: (_ temporaryPath: String) throws -> Void) throws {
    let url = URL(fileURLWithPath: path)
    let folder = url.deletingLastPathComponent().path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw DataError("\(path): folder \(folder) does not exist")
    }
    try checkReplaceable(path, allowingFolder: false)
    let temporary = folder + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    TemporaryPaths.register(temporary)
    defer { TemporaryPaths.unregister(temporary) }
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw DataError("cannot write \(path): \(reason(errno: errno))") }
    _ = close(descriptor)
    do {
      try body(temporary)
      try syncToDisk(temporary, destination: path)
      try checkReplaceable(path, allowingFolder: false)
      if rename(temporary, path) != 0 {
        throw DataError("cannot write \(path): \(reason(errno: errno))")
      }
    } catch let error as DataError {
      unlink(temporary)
      throw DataError(error.description.replacingOccurrences(of: temporary, with: path), settings: error.settings)
    } catch let error as NSError where error.domain == NSCocoaErrorDomain || error.domain == NSPOSIXErrorDomain {
      unlink(temporary)
      throw DataError("cannot write \(path): \(reason(error))")
    } catch {
      unlink(temporary)
      throw error
    }
  }

  /// Creates `folder` and its parents when missing; a file in the way, or a folder that cannot
  /// be made, is a one-line error ("cannot create the folder runs/x: file exists").
  public static func createFolder(_ folder: String) throws {
    guard !folder.isEmpty else { return }
    do {
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
      throw DataError("cannot create the folder \(folder): \(reason(error))")
    }
  }

  /// Throws unless `path` is absent, a regular file or (with `allowingFolder`) a folder: what may
  /// be replaced by a rename. Symbolic links are not followed.
  public static func checkReplaceable(_ path: String, allowingFolder: Bool) throws {
    var status = stat()
    guard lstat(path, &status) == 0 else {
      if errno == ENOENT { return }
      throw DataError("cannot write \(path): \(reason(errno: errno))")
    }
    let kind: String
    switch status.st_mode & S_IFMT {
    case S_IFREG: return
    case S_IFDIR:
      if allowingFolder { return }
      kind = "a folder"
    case S_IFCHR, S_IFBLK: kind = "a device"
    case S_IFIFO: kind = "a FIFO"
    case S_IFSOCK: kind = "a socket"
    case S_IFLNK: kind = "a symbolic link"
    default: kind = "not a regular file"
    }
    throw DataError("refusing to replace \(path): it is \(kind), not a regular file\(allowingFolder ? " or folder" : "")")
  }

  /// The system's reason for `errno`, lower-cased as in the middle of a sentence
  /// ("read-only file system").
  public static func reason(errno code: Int32) -> String {
    lowercasedReason(String(cString: strerror(code)))
  }

  /// The operating system's reason of a Foundation error (an `NSCocoaErrorDomain` error wraps the
  /// POSIX one), without Foundation's domain and code.
  public static func reason(_ error: Error) -> String {
    let error = error as NSError
    if error.domain == NSPOSIXErrorDomain { return reason(errno: Int32(error.code)) }
    if let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
      return reason(errno: Int32(underlying.code))
    }
    if error.domain == NSCocoaErrorDomain {
      // swift-corelibs-foundation often gives only its own code.
      let codes: [Int: Int32] = [
        NSFileNoSuchFileError: ENOENT, NSFileReadNoSuchFileError: ENOENT, NSFileReadNoPermissionError: EACCES,
        NSFileWriteNoPermissionError: EACCES, NSFileWriteOutOfSpaceError: ENOSPC, NSFileWriteVolumeReadOnlyError: EROFS,
        NSFileWriteFileExistsError: EEXIST,
      ]
      if let code = codes[error.code] { return reason(errno: code) }
    }
    var text = lowercasedReason(error.localizedFailureReason ?? error.localizedDescription)
    if text.hasSuffix(".") { text.removeLast() }
    return text
  }

  /// `text` with its first letter lower-cased unless the first word is an acronym ("No space left
  /// on device" -> "no space left on device").
  static func lowercasedReason(_ text: String) -> String {
    guard let first = text.first, let second = text.dropFirst().first, second.isLowercase else { return text }
    return first.lowercased() + text.dropFirst()
  }

  /// Flushes a written file's data to the storage device (`fsync`); a failure (a full disk that
  /// accepted the writes into its cache) is reported.
  private static func syncToDisk(_ path: String, destination: String) throws {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw DataError("cannot write \(destination): \(reason(errno: errno))") }
    defer { _ = close(descriptor) }
    if fsync(descriptor) != 0, errno != EINVAL {
      throw DataError("cannot write \(destination): \(reason(errno: errno))")
    }
  }
}

/// Paths of temporary files and folders that exist only while a write is under way. The library
/// registers each one when it creates it and unregisters it once it is renamed or removed; a front
/// end's handler for SIGINT and SIGTERM calls ``removeAll()`` before it exits, so an interrupted
/// run leaves no half-written file behind. Thread-safe.
public enum TemporaryPaths {
  private final class Registry: @unchecked Sendable {
    let lock = NSLock()
    var paths: [String: Int] = [:]
  }
  private static let registry = Registry()

  /// Lists `path` (a file or a folder) for removal by ``removeAll()``.
  public static func register(_ path: String) {
    registry.lock.lock()
    registry.paths[path, default: 0] += 1
    registry.lock.unlock()
  }

  /// Takes `path` off the list (it was renamed into place or removed).
  public static func unregister(_ path: String) {
    registry.lock.lock()
    if let count = registry.paths[path] { registry.paths[path] = count > 1 ? count - 1 : nil }
    registry.lock.unlock()
  }

  /// The listed paths, sorted.
  public static var registered: [String] {
    registry.lock.lock()
    defer { registry.lock.unlock() }
    return registry.paths.keys.sorted()
  }

  /// Removes every listed file and folder (recursively) and empties the list; returns the paths
  /// it removed. Meant for a signal handler that exits right after.
  @discardableResult
  public static func removeAll() -> [String] { removeAll(where: { _ in true }) }

  /// ``removeAll()`` restricted to the listed paths for which `include` holds (the others stay
  /// listed): a test can check the removal without touching paths other tests have listed.
  @discardableResult
  public static func removeAll(where include: (String) -> Bool) -> [String] {
    registry.lock.lock()
    let paths = registry.paths.keys.filter(include).sorted()
    for path in paths { registry.paths[path] = nil }
    registry.lock.unlock()
    // Longest first: files inside a registered folder go before it.
    for path in paths.sorted(by: { $0.count > $1.count }) { try? FileManager.default.removeItem(atPath: path) }
    return paths
  }
}

extension HDF5File {
  /// Writes an HDF5 file atomically: `body` fills a new file created at a temporary path in the
  /// same folder; only when it returns normally is the file closed and renamed to `path`. When
  /// `body` throws, the temporary file is removed and any existing file at `path` is unchanged.
  /// A `sealed` file (``create(_:sealed:)``) gets its seal after it is closed, before the rename.
  public static func writeAtomically(to path: String, sealed: Bool = false, _ body: (HDF5File) throws -> Void) throws {
    try AtomicFile.write(to: path) { temporary in
      let file = try HDF5File.create(temporary, sealed: sealed)
      do {
        try body(file)
      } catch {
        try? file.close()
        throw error
      }
      try file.close()
      if sealed { try HDF5File.seal(temporary) }
    }
  }
}
