import Foundation
import ModelFoolData

/// Writes a run's outputs all together or not at all: `body` writes every file into a staging
/// folder inside the destination (same file system), and only when it returns normally is each
/// entry renamed into place. A run that fails at its end (a report it cannot encode, a full disk)
/// leaves the previous outputs of the folder untouched.
public enum RunOutputs {
  /// Creates `folder` when missing and fills it through `body`, which writes into the staging
  /// folder it is given.
  public static func write(into folder: String, _ body: (_ staging: String) throws -> Void) throws {
    let manager = FileManager.default
    var isDirectory: ObjCBool = false
    if manager.fileExists(atPath: folder, isDirectory: &isDirectory), !isDirectory.boolValue {
      throw DataError("the output folder \(folder) is a file")
    }
    do {
      try manager.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
      throw DataError("cannot create the output folder \(folder) (\(reason(error)))")
    }
    let staging = folder + "/.staging-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    do {
      try manager.createDirectory(atPath: staging, withIntermediateDirectories: false)
    } catch {
      throw DataError("cannot write into the output folder \(folder) (\(reason(error)))")
    }
    defer { try? manager.removeItem(atPath: staging) }
    try body(staging)
    for name in try manager.contentsOfDirectory(atPath: staging).sorted() {
      let from = staging + "/" + name, to = folder + "/" + name
      // rename(2) replaces files and empty folders only: a folder of pictures replaces the old one.
      if manager.fileExists(atPath: to, isDirectory: &isDirectory), isDirectory.boolValue {
        try manager.removeItem(atPath: to)
      }
      guard rename(from, to) == 0 else {
        throw DataError("cannot move \(name) into \(folder) (\(String(cString: strerror(errno))))")
      }
    }
  }

  /// Writes `text` as a UTF-8 file at `path`.
  public static func writeText(_ text: String, to path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
      throw DataError("cannot write \(path)")
    }
  }

  /// The operating system's reason, without Foundation's domain and code.
  static func reason(_ error: Error) -> String {
    let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
    if let code = underlying?.code, underlying?.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(code))) }
    return (error as NSError).localizedFailureReason ?? error.localizedDescription
  }
}
