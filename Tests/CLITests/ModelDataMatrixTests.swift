import Foundation
import ModelFoolData
import Testing

/// Every command on every pairing of a model kind (digits CNN, German-credit MLP, EfficientNet-Lite0
/// with random weights, `zoo:efficientnet-lite0`) and a data kind
/// (digits, each tabular set, an image folder, an HDF5 file of images): each run succeeds or ends
/// in one `Error:` line with a failure code, never a trap or a signal.
@Suite("modelfool binary: every model with every data", .serialized)
struct ModelDataMatrixTests {
  /// A digits CNN trained for one epoch (shared).
  static let digitsCheckpoint: Result<String, Error> = Result {
    let folder = try CLI.temporaryFolder()
    let r = try CLI.run(["train", "--dataset", "digits", "--epochs", "1", "--out", "digits.h5", "--json"], in: folder)
    guard r.status == 0 else { throw CLIError("train failed (\(r.status)): \(r.stderr)") }
    return folder + "/digits.h5"
  }

  /// An image folder (two classes, two sample photos each) and an HDF5 file of 4 RGB images.
  static func imageSources(in folder: String) throws -> (folder: String, h5: String) {
    let sample = CLI.packageRoot + "/datasets/imagenet-sample/"
    for (i, name) in ["imagenet_06_609.jpg", "imagenet_07_609.jpg", "imagenet_00_243.jpg", "imagenet_01_559.jpg"].enumerated() {
      let cls = folder + "/images/class\(i / 2)"
      try FileManager.default.createDirectory(atPath: cls, withIntermediateDirectories: true)
      try FileManager.default.copyItem(atPath: sample + name, toPath: cls + "/" + name)
    }
    let file = try HDF5File.create(folder + "/images.h5")
    var pixels = [UInt8](repeating: 0, count: 4 * 32 * 32 * 3)
    for i in pixels.indices { pixels[i] = UInt8((i * 37) % 251) }
    try file.write(pixels, shape: [4, 32, 32, 3], at: "images")
    try file.write([0, 1, 2, 3], shape: [4], at: "labels")
    try file.close()
    return (folder + "/images", folder + "/images.h5")
  }

  /// The data flags of each data kind.
  static let data: [(name: String, arguments: [String])] = [
    ("digits", ["--dataset", "digits"]), ("adult", ["--dataset", "adult"]), ("german", ["--dataset", "german"]),
    ("compas", ["--dataset", "compas"]), ("image folder", ["--images", "IMAGES"]), ("hdf5", ["--h5", "H5"]),
  ]

  /// Each command with flags that keep its work small.
  static let commands: [[String]] = [
    ["predict", "--model", "MODEL", "--index", "0"],
    ["evaluate", "--model", "MODEL"],
    ["explain", "--model", "MODEL", "--count", "2", "--out", "ex"],
    ["attack-input", "--model", "MODEL", "--count", "2", "--steps", "2", "--out", "ai"],
    ["finetune", "--model", "MODEL", "--steps", "2", "--eval-count", "8", "--out", "ft"],
    ["audit", "sanity", "--model", "MODEL", "--count", "4", "--methods", "simplegrad"],
    ["audit", "manipulation", "--model", "MODEL", "--count", "4", "--methods", "simplegrad"],
  ]

  static var cases: [[String]] { commands.flatMap { c in data.map { c + $0.arguments } } }

  @Test(arguments: ["digits", "german", "efficientnet"]) func everyCommandWithEveryData(_ kind: String) throws {
    let model = kind == "efficientnet" ? "zoo:efficientnet-lite0" : try (kind == "digits" ? Self.digitsCheckpoint : CLI.germanCheckpoint).get()
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let (images, h5) = try Self.imageSources(in: folder)
    var succeeded = 0
    for arguments in Self.cases {
      let filled = arguments.map { $0 == "MODEL" ? model : $0 == "IMAGES" ? images : $0 == "H5" ? h5 : $0 }
      let r = try CLI.run(filled, in: folder)
      let shown = "\(kind) model: modelfool \(arguments.joined(separator: " "))"
      #expect(!r.signalled && ![132, 134, 139].contains(r.status), "\(shown): exit \(r.status) \(r.stderr.suffix(300))")
      if r.status == 0 { succeeded += 1; continue }
      let lines = r.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n")
      #expect(lines.last?.hasPrefix("Error: ") == true && lines.filter { $0.hasPrefix("Error: ") }.count == 1, "\(shown): \(r.stderr.suffix(300))")
    }
    // The matching pairs run: every command on the model's own data set at least (the ImageNet
    // network on the image folder and the HDF5 file, for the five commands that take them).
    #expect(succeeded >= (kind == "efficientnet" ? 10 : Self.commands.count), "only \(succeeded) runs succeeded")
  }
}
