import Dispatch
import Foundation
import ModelFoolData

/// SIGINT and SIGTERM, one place for both behaviours:
/// - a command that can stop gracefully (a fine-tuning saving its resumable state) asks for
///   ``stopRequest()``: the first signal then only raises the flag the run polls after each step;
/// - otherwise, and on a second signal, the temporary files, staging folders and lock files the
///   library listed in ``TemporaryPaths`` are removed and the process exits with 128 + the signal
///   (130, 143) without running exit handlers, so that libhdf5 does not flush a file the
///   interrupted thread is half-way through writing (it is being removed anyway).
enum Signals {
  private final class State: @unchecked Sendable {
    let lock = NSLock()
    var sources: [DispatchSourceSignal] = []
    var graceful = false
    var stopRaised = false
    var received: Int32?
  }
  private static let state = State()

  /// Installs the handlers (once; later calls do nothing).
  static func install() {
    state.lock.lock()
    defer { state.lock.unlock() }
    guard state.sources.isEmpty else { return }
    let queue = DispatchQueue(label: "modelfool.signals")
    for number in [SIGINT, SIGTERM] {
      signal(number, SIG_IGN)  // the dispatch source sees it instead of the default action
      let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
      source.setEventHandler { handle(number) }
      source.resume()
      state.sources.append(source)
    }
  }

  /// Makes the first signal a request to stop after the current step; returns the question the
  /// run polls.
  static func stopRequest() -> @Sendable () -> Bool {
    install()
    state.lock.lock()
    state.graceful = true
    state.lock.unlock()
    return {
      state.lock.lock()
      defer { state.lock.unlock() }
      return state.stopRaised
    }
  }

  /// The signal that asked the run to stop, if one did.
  static var received: Int32? {
    state.lock.lock()
    defer { state.lock.unlock() }
    return state.received
  }

  private static func handle(_ number: Int32) {
    state.lock.lock()
    state.received = state.received ?? number
    let stopFirst = state.graceful && !state.stopRaised
    if stopFirst { state.stopRaised = true }
    state.lock.unlock()
    if stopFirst {
      logLine("stopping after the current step: saving the state (signal again to stop at once)")
      return
    }
    TemporaryPaths.removeAll()
    StandardError.writeLast("\nError: \(number == SIGINT ? "interrupted" : "terminated"); its temporary files were removed\n")
    _exit(128 + number)
  }
}
