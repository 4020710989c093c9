import Foundation

/// Replaces a file all at once or not at all: the content is written to a temporary file in the
/// same folder, synced to disk, then renamed over the destination (`rename(2)` is atomic within
/// one file system). If writing fails, the temporary file is removed and an existing file at the
/// destination is left untouched.
public enum AtomicFile {
  /// Runs `body` with a temporary path next to `path`, then renames it to `path` on success.
  /// `body` must create the file at the path it is given.
  public static func write(to path: String, _ body: (_ temporaryPath: String) throws -> Void) throws {
    let url = URL(fileURLWithPath: path)
    let folder = url.deletingLastPathComponent().path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw DataError("\(path): folder \(folder) does not exist")
    }
    let temporary = folder + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    do {
      try body(temporary)
      try syncToDisk(temporary)
      if rename(temporary, path) != 0 {
        throw DataError("\(path): cannot replace the file (\(String(cString: strerror(errno))))")
      }
    } catch {
      unlink(temporary)
      throw error
    }
  }

  /// Flushes a written file's data to the storage device (`fsync`).
  private static func syncToDisk(_ path: String) throws {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else {
      throw DataError("\(path): the file to be renamed was not written (\(String(cString: strerror(errno))))")
    }
    defer { _ = close(descriptor) }
    _ = fsync(descriptor)
  }
}

extension HDF5File {
  /// Writes an HDF5 file atomically: `body` fills a new file created at a temporary path in the
  /// same folder; only when it returns normally is the file closed and renamed to `path`. When
  /// `body` throws, the temporary file is removed and any existing file at `path` is unchanged.
  public static func writeAtomically(to path: String, _ body: (HDF5File) throws -> Void) throws {
    try AtomicFile.write(to: path) { temporary in
      let file = try HDF5File.create(temporary)
      do {
        try body(file)
      } catch {
        try? file.close()
        throw error
      }
      try file.close()
    }
  }
}
