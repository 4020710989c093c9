import Foundation
import ModelFoolData

/// Writes a run's outputs all together or not at all: `body` writes every file into a staging
/// folder inside the destination (same file system), and only when it returns normally is each
/// entry renamed into place. A run that fails at its end (a report it cannot encode, a full disk)
/// leaves the previous outputs of the folder untouched.
///
/// - One writer at a time: the folder is locked (`flock(2)` on `.modelfool.lock` inside it) while
///   the outputs are written; a second run into the same folder fails at once, naming the process
///   that holds the lock.
/// - Only regular files and folders are replaced: a device, FIFO, socket or symbolic link in the
///   way (or as the folder itself) is refused before anything is written.
/// - The staging folder and the lock file are listed in ``TemporaryPaths`` while they exist, so a
///   signal handler can remove them; they are removed on every error.
/// - File errors are one line with the system's reason ("cannot write runs/x/model.h5: read-only
///   file system").
public enum RunOutputs {
  /// The lock file's name inside an output folder.
  public static let lockName = ".modelfool.lock"

  /// Creates `folder` when missing and fills it through `body`, which writes into the staging
  /// folder it is given.
  public static func write(into folder: String, _ body: (_ staging: String) throws -> Void) throws {
    let manager = FileManager.default
    var status = stat()
    if stat(folder, &status) == 0, status.st_mode & S_IFMT != S_IFDIR {
      let kind = status.st_mode & S_IFMT == S_IFREG ? "a file" : "not a regular folder (a device, FIFO or socket)"
      throw DataError("the output folder \(folder) is \(kind)")
    }
    let created = !manager.fileExists(atPath: folder)
    do {
      try manager.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
      throw DataError("cannot create the output folder \(folder): \(AtomicFile.reason(error))")
    }
    var finished = false
    // A folder made for this run goes again when the run fails (only if it is still empty).
    defer { if created && !finished { rmdir(folder) } }
    // A folder this process has claimed for its run is already locked by it.
    let lock = RunFolderClaim.isClaimed(folder) ? nil : try FolderLock(folder)
    defer { lock?.release() }
    let staging = folder + "/.staging-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    do {
      try manager.createDirectory(atPath: staging, withIntermediateDirectories: false)
    } catch {
      throw DataError("cannot write into the output folder \(folder): \(AtomicFile.reason(error))")
    }
    TemporaryPaths.register(staging)
    defer {
      try? manager.removeItem(atPath: staging)
      TemporaryPaths.unregister(staging)
    }
    do { try body(staging) } catch let error as DataError {
      // Name where the file was going, not the staging folder.
      throw DataError(error.description.replacingOccurrences(of: staging + "/", with: folder + "/"), settings: error.settings)
    }
    let names = try manager.contentsOfDirectory(atPath: staging).sorted()
    for name in names { try AtomicFile.checkReplaceable(folder + "/" + name, allowingFolder: true) }
    var isDirectory: ObjCBool = false
    for name in names {
      let from = staging + "/" + name, to = folder + "/" + name
      // rename(2) replaces files and empty folders only: a folder of pictures replaces the old one.
      if manager.fileExists(atPath: to, isDirectory: &isDirectory), isDirectory.boolValue {
        do { try manager.removeItem(atPath: to) } catch {
          throw DataError("cannot replace \(to): \(AtomicFile.reason(error))")
        }
      }
      guard rename(from, to) == 0 else {
        throw DataError("cannot write \(to): \(AtomicFile.reason(errno: errno))")
      }
    }
    finished = true
  }

  /// Writes `text` as a UTF-8 file at `path`.
  public static func writeText(_ text: String, to path: String) throws {
    do { try Data(text.utf8).write(to: URL(fileURLWithPath: path)) } catch {
      throw DataError("cannot write \(path): \(AtomicFile.reason(error))")
    }
  }

  /// The operating system's reason, without Foundation's domain and code.
  static func reason(_ error: Error) -> String { AtomicFile.reason(error) }
}

/// A run's hold on its output folder from before its first step until its last file is in place:
/// the folder's lock (``RunOutputs/lockName``) taken at once, so that a second run into the
/// folder (or a second resumption of it) fails before doing any work, naming the process that
/// holds it. ``RunOutputs/write(into:_:)`` into a claimed folder uses the claim. Released by
/// ``release()`` or when the last reference goes; a folder the claim created is removed again
/// if it is still empty then.
public final class RunFolderClaim: @unchecked Sendable {
  /// The claimed folder.
  public let folder: String
  private let key: String
  private var lock: FolderLock?
  private let created: Bool
  private let mutex = NSLock()

  private final class Registry: @unchecked Sendable {
    let lock = NSLock()
    var folders: [String: Int] = [:]
  }
  private static let registry = Registry()

  /// The same folder, however it is written (relative or absolute, with `.` or `..`).
  static func key(_ folder: String) -> String { URL(fileURLWithPath: folder).standardizedFileURL.path }

  /// Whether this process holds a claim on `folder`.
  static func isClaimed(_ folder: String) -> Bool {
    registry.lock.lock()
    defer { registry.lock.unlock() }
    return registry.folders[key(folder)] != nil
  }

  /// Claims `folder`, creating it when missing. Throws at once when another run holds it, or
  /// when it is a file or not a regular folder.
  public init(_ folder: String) throws {
    self.folder = folder
    key = Self.key(folder)
    var status = stat()
    if stat(folder, &status) == 0, status.st_mode & S_IFMT != S_IFDIR {
      let kind = status.st_mode & S_IFMT == S_IFREG ? "a file" : "not a regular folder (a device, FIFO or socket)"
      throw DataError("the output folder \(folder) is \(kind)")
    }
    created = !FileManager.default.fileExists(atPath: folder)
    do {
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
      throw DataError("cannot create the output folder \(folder): \(AtomicFile.reason(error))")
    }
    do { lock = try FolderLock(folder) } catch {
      if created { rmdir(folder) }
      throw error
    }
    Self.registry.lock.lock()
    Self.registry.folders[key, default: 0] += 1
    Self.registry.lock.unlock()
  }

  /// Releases the folder (once; later calls do nothing).
  public func release() {
    mutex.lock()
    defer { mutex.unlock() }
    guard let held = lock else { return }
    lock = nil
    Self.registry.lock.lock()
    if let n = Self.registry.folders[key] { Self.registry.folders[key] = n > 1 ? n - 1 : nil }
    Self.registry.lock.unlock()
    held.release()
    if created { rmdir(folder) }  // only when still empty
  }

  deinit { release() }
}

extension RunFolderClaim {
  /// Claims the folder that will hold the output file `file` (its parent folder; the current
  /// folder for a bare name), so that a run writing single files owns where they go, as a run
  /// writing a folder does.
  public convenience init(holding file: String) throws {
    try self.init(Self.folder(holding: file))
  }

  /// The folder that holds `file`: its parent, `.` for a bare name.
  public static func folder(holding file: String) -> String {
    let parent = (file as NSString).deletingLastPathComponent
    return parent.isEmpty ? "." : parent
  }

  /// Claims the distinct folders that will hold `files` (one claim per folder, however written),
  /// in order; throws at the first folder another run holds, releasing those already claimed.
  public static func claims(holding files: [String]) throws -> [RunFolderClaim] {
    var claimed: [RunFolderClaim] = [], keys: Set<String> = []
    do {
      for file in files where keys.insert(key(folder(holding: file))).inserted {
        claimed.append(try RunFolderClaim(holding: file))
      }
    } catch {
      claimed.reversed().forEach { $0.release() }
      throw error
    }
    return claimed
  }
}

/// An exclusive `flock(2)` on `FOLDER/.modelfool.lock`, holding the owner's process id. Taken
/// without waiting; released (and the file removed) by `release()`.
struct FolderLock {
  let path: String
  private let descriptor: Int32

  init(_ folder: String) throws {
    path = folder + "/" + RunOutputs.lockName
    while true {
      let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
      guard descriptor >= 0 else {
        throw DataError("cannot lock the output folder \(folder): \(AtomicFile.reason(errno: errno))")
      }
      if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
        let code = errno
        let holder = Self.holder(descriptor)
        close(descriptor)
        if code == EWOULDBLOCK {
          throw DataError("another run is writing into \(folder) (\(holder ?? "process unknown") holds \(path))")
        }
        throw DataError("cannot lock the output folder \(folder): \(AtomicFile.reason(errno: code))")
      }
      // The previous holder may have removed the file between our open and flock: lock the file
      // that is at the path now.
      var opened = stat(), current = stat()
      if fstat(descriptor, &opened) == 0, stat(path, &current) == 0, opened.st_ino == current.st_ino,
        opened.st_dev == current.st_dev
      {
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        self.descriptor = descriptor
        TemporaryPaths.register(path)
        return
      }
      close(descriptor)
    }
  }

  /// Removes the lock file, then unlocks.
  func release() {
    unlink(path)
    TemporaryPaths.unregister(path)
    close(descriptor)
  }

  /// "process 1234 (modelfool)" from the pid the holder wrote into the lock file.
  private static func holder(_ descriptor: Int32) -> String? {
    var bytes = [UInt8](repeating: 0, count: 32)
    let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
    guard count > 0, let pid = Int32(String(decoding: bytes.prefix(count), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    else { return nil }
    let name = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    return "process \(pid)" + (name.map { " (\($0))" } ?? "")
  }
}
