import Foundation

/// SIGINT and SIGTERM ask a running fine-tuning to save its state and stop (a second signal
/// while it saves is ignored; the run stops after its current step).
enum StopSignals {
  private final class Flag: @unchecked Sendable {
    let lock = NSLock()
    var raised = false
    var sources: [DispatchSourceSignal] = []
  }
  private static let flag = Flag()

  /// Installs the handlers (once) and returns the question the run polls.
  static func install() -> @Sendable () -> Bool {
    flag.lock.lock()
    defer { flag.lock.unlock() }
    if flag.sources.isEmpty {
      for number in [SIGINT, SIGTERM] {
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler {
          flag.lock.lock()
          flag.raised = true
          flag.lock.unlock()
          logLine("stopping after the current step: saving the state")
        }
        source.resume()
        flag.sources.append(source)
      }
    }
    return {
      flag.lock.lock()
      defer { flag.lock.unlock() }
      return flag.raised
    }
  }
}
