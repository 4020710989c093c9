import Foundation

/// A peer benchmark script (`bench/peers/*.py`) run with `python3`: the same workload in another
/// framework, whose last stdout line is one JSON object of milliseconds.
public enum PeerScript {
  /// Why a peer gave no numbers (script missing, python3 or a module missing, no JSON).
  public struct Failure: Error, CustomStringConvertible, Sendable {
    public var description: String
  }

  /// Runs `python3 script arguments...` and reads `keys` (numbers) from the JSON object on its
  /// last stdout line. The failure names the last line of the script's stderr when it exits
  /// non-zero.
  public static func run(_ script: String, arguments: [String], keys: [String]) -> Result<[String: Double], Failure> {
    guard FileManager.default.fileExists(atPath: script) else {
      return .failure(Failure(description: "peer script \(script) not found (run from the repository root)"))
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", script] + arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    do { try process.run() } catch {
      return .failure(Failure(description: "cannot start python3: \(error)"))
    }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      let reason = errText.split(separator: "\n").last.map(String.init) ?? "exit \(process.terminationStatus)"
      return .failure(Failure(description: reason))
    }
    let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
    guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
      return .failure(Failure(description: "peer printed no JSON result: \(line.prefix(200))"))
    }
    var values: [String: Double] = [:]
    for key in keys {
      guard let value = object[key] as? Double else {
        return .failure(Failure(description: "peer printed no \(key): \(line.prefix(200))"))
      }
      values[key] = value
    }
    return .success(values)
  }
}
