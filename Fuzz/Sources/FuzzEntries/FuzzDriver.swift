// The libFuzzer driver shared by every fuzz-* executable. SwiftPM compiles a one-file executable
// target as a main file (top-level code), whose `main` would shadow libFuzzer's; so each target's
// top-level code calls ``runFuzzer(_:)``, which hands control to libFuzzer's driver itself (no
// -parse-as-library flag needed). Not part of the main package's test suite (it links libFuzzer).
import Foundation

/// The reader the running fuzzer feeds (one per process).
nonisolated(unsafe) private var fuzzedReader = FuzzedReader.torch

/// One input: a crash, or an error that is not one line, stops the run.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  let bytes = data.map { [UInt8](UnsafeBufferPointer(start: $0, count: size)) } ?? []
  if let problem = fuzzedReader.feed(bytes) { fatalError(problem) }
  return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
  _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
  _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// Runs libFuzzer on `reader` with the process's command line; never returns.
public func runFuzzer(_ reader: FuzzedReader) -> Never {
  fuzzedReader = reader
  var argc = CommandLine.argc
  var argv = CommandLine.unsafeArgv
  exit(runFuzzerDriver(&argc, &argv, fuzzOneInput))
}
