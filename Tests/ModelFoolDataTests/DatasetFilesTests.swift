import Foundation
import Testing

/// The shipped files are exactly the ones SHA256SUMS records (hashes taken by `sha256sum`).
@Suite struct DatasetFilesTests {
  /// `file -> hash` from datasets/SHA256SUMS.
  static func recordedHashes() throws -> [String: String] {
    let text = try String(contentsOfFile: ShippedDatasets.root + "/SHA256SUMS", encoding: .utf8)
    var out: [String: String] = [:]
    for line in text.split(separator: "\n") {
      let parts = line.split(separator: " ", omittingEmptySubsequences: true)
      if parts.count == 2 { out[String(parts[1])] = String(parts[0]) }
    }
    return out
  }

  /// Runs `sha256sum` on the given files (paths relative to the datasets folder).
  static func sha256sum(_ files: [String]) throws -> [String: String] {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["sha256sum"] + files
    p.currentDirectoryURL = URL(fileURLWithPath: ShippedDatasets.root)
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    var out: [String: String] = [:]
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
      let parts = line.split(separator: " ", omittingEmptySubsequences: true)
      if parts.count == 2 { out[String(parts[1])] = String(parts[0]) }
    }
    return out
  }

  static let shippedFiles = [
    "digits/mnist_5k.csv.gz", "adult/adult.data", "adult/adult.test", "german/german.data",
    "german/values_maps.json", "compas/compas-scores-two-years.csv",
  ]

  @Test func recordedHashesAreThePublishedOnes() throws {
    let recorded = try Self.recordedHashes()
    #expect(recorded["digits/mnist_5k.csv.gz"] == "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d")
    #expect(recorded["adult/adult.data"] == "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d")
    #expect(recorded["adult/adult.test"] == "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05")
    #expect(recorded["german/german.data"] == "b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871")
    #expect(recorded["german/values_maps.json"] == "73a48f120cdb8019fb9f0ad84078ef1ba109f1100bbcc6cbcf925d60e6adcd4e")
    #expect(recorded["compas/compas-scores-two-years.csv"] == "c451db85908b2f7fef1d83203bedf6b71ecda0d5af468d82ae62178f91d0cc7d")
  }

  @Test func shippedFilesMatchSHA256SUMS() throws {
    let recorded = try Self.recordedHashes()
    let actual = try Self.sha256sum(Self.shippedFiles)
    for f in Self.shippedFiles {
      #expect(actual[f] != nil && actual[f] == recorded[f], "\(f)")
    }
  }
}
