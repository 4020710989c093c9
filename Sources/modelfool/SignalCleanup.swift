import Dispatch
import Foundation
import ModelFoolData

/// SIGINT and SIGTERM end the tool cleanly: the temporary files, staging folders and lock files
/// the library has listed in ``TemporaryPaths`` are removed, then the process exits with
/// 128 + the signal (130, 143) without running exit handlers, so that libhdf5 does not flush a
/// file the interrupted thread is half-way through writing (it is being removed anyway).
enum SignalCleanup {
  private static let sources = SourceList()

  private final class SourceList: @unchecked Sendable {
    let lock = NSLock()
    var installed: [DispatchSourceSignal] = []
  }

  /// Installs the handlers (once; later calls do nothing).
  static func install() {
    sources.lock.lock()
    defer { sources.lock.unlock() }
    guard sources.installed.isEmpty else { return }
    let queue = DispatchQueue(label: "modelfool.signals")
    for signalNumber in [SIGINT, SIGTERM] {
      signal(signalNumber, SIG_IGN)  // the dispatch source sees it instead of the default action
      let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
      source.setEventHandler {
        TemporaryPaths.removeAll()
        let name = signalNumber == SIGINT ? "interrupted" : "terminated"
        FileHandle.standardError.write(Data("\nError: \(name); its temporary files were removed\n".utf8))
        _exit(128 + signalNumber)
      }
      source.resume()
      sources.installed.append(source)
    }
  }
}
