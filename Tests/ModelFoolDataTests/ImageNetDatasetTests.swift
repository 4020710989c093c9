import Foundation
import ModelFool
import ModelFoolData
import Testing

@Suite struct ImageNetDatasetTests {
  static let sampleLabels = [243, 559, 438, 990, 949, 853, 609, 609, 915, 455, 541, 630, 741, 471, 129, 99, 251, 22, 317, 305]

  @Test func shippedFilesMatchTheirSHA256() throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["sha256sum", "-c", "--quiet", "SHA256SUMS"]
    process.currentDirectoryURL = URL(fileURLWithPath: imagenetSampleFolder)
    try process.run()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0)
    let sums = try String(contentsOfFile: imagenetSampleFolder + "/SHA256SUMS", encoding: .utf8)
    #expect(sums.split(separator: "\n").count == 21)
    #expect(sums.contains("28b7b933c8028c6e20bf74a86a709eda42ce99f14c8742cb657cb386f08a4c9d  imagenet_00_243.jpg"))
    #expect(sums.contains("e46cf90316006d7a615d0ae06860b7f438ee44e69558cb129a959c63c026d77b  imagenet1k_clean_names.json"))
  }

  @Test func sampleLoadsTwentyPhotosLikeTheTorchvisionPipeline() throws {
    let dataset = try ImageNetDataset.loadSample(folder: imagenetSampleFolder, preprocessing: .pixelRange)
    #expect(dataset.name == "imagenet-sample")
    #expect(dataset.inputs.shape == [20, 3, 224, 224])
    #expect(dataset.labels == Self.sampleLabels)
    #expect(dataset.classNames.count == 1000)
    #expect(dataset.classNames[0] == "tench" && dataset.classNames[243] == "Bullmastiff")
    #expect(dataset.classNames[609] == "jeep" && dataset.classNames[999] == "toilet paper")
    // Rebuild each photo's 224x224x3 bytes from the tensor and compare with Pillow's
    // resize(BICUBIC) + centre crop (FNV-1a hashes in imagenetSampleReference).
    let scalars = dataset.inputs.scalars
    let plane = 224 * 224
    for (n, reference) in imagenetSampleReference.enumerated() {
      var bytes = [UInt8](repeating: 0, count: 3 * plane)
      for p in 0..<plane {
        for c in 0..<3 { bytes[3 * p + c] = UInt8(scalars[n * 3 * plane + c * plane + p]) }
      }
      #expect(fnv1a64(bytes) == reference.cropped, "\(reference.name)")
    }
    // Pillow: the cropped photo 0 at row 100, column 50 is (21, 18, 10).
    #expect(scalars[100 * 224 + 50] == 21 && scalars[plane + 100 * 224 + 50] == 18)
    #expect(scalars[2 * plane + 100 * 224 + 50] == 10)
    // The unit-range default divides by 255.
    let unit = try ImageNetDataset.loadSample(folder: imagenetSampleFolder)
    #expect(unit.inputs.scalars[100 * 224 + 50] == Float(21) / 255)
  }

  @Test func classIndexFormats() throws {
    let folder = try makeTemporaryFolder("classes")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try Data(#"{"1": ["n01443537", "goldfish"], "0": ["n01440764", "tench"]}"#.utf8)
      .write(to: URL(fileURLWithPath: folder + "/imagenet_class_index.json"))
    let index = try ImageNetDataset.loadClassIndex(folder + "/imagenet_class_index.json")
    #expect(index.map(\.wordNetID) == ["n01440764", "n01443537"] && index.map(\.name) == ["tench", "goldfish"])
    #expect(try ImageNetDataset.loadClassNames(folder + "/imagenet_class_index.json") == ["tench", "goldfish"])
    try Data("n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n".utf8)
      .write(to: URL(fileURLWithPath: folder + "/LOC_synset_mapping.txt"))
    #expect(try ImageNetDataset.loadClassIndex(folder + "/LOC_synset_mapping.txt").map(\.name) == ["tench", "goldfish"])
    try Data(#"{"0": "tench"}"#.utf8).write(to: URL(fileURLWithPath: folder + "/bad.json"))
    let error = #expect(throws: DataError.self) { try ImageNetDataset.loadClassNames(folder + "/bad.json") }
    #expect(error.map(oneLineDescription) == "\(folder)/bad.json: class 0 must be [\"WNID\", \"name\"]")
  }

  @Test func standardFolderLayout() throws {
    let root = try makeTemporaryFolder("imagenet-folder")
    defer { try? FileManager.default.removeItem(atPath: root) }
    // Two classes as the standard layout: a JPEG (copied sample photo) and a PNG.
    let fileManager = FileManager.default
    try fileManager.createDirectory(atPath: root + "/n01440764", withIntermediateDirectories: true)
    try fileManager.createDirectory(atPath: root + "/n01443537", withIntermediateDirectories: true)
    try fileManager.copyItem(atPath: imagenetSampleFolder + "/imagenet_10_541.jpg", toPath: root + "/n01443537/a.JPEG")
    let flat = [UInt8]((0..<(300 * 240)).flatMap { _ in [UInt8(9), 99, 199] })
    try PNGImage.write(rgb: flat, width: 300, height: 240, to: root + "/n01440764/x.png")
    try Data("not an image".utf8).write(to: URL(fileURLWithPath: root + "/n01440764/notes.txt"))
    try Data(#"{"0": ["n01440764", "tench"], "1": ["n01443537", "goldfish"], "2": ["n01484850", "great white shark"]}"#.utf8)
      .write(to: URL(fileURLWithPath: root + "/imagenet_class_index.json"))

    let listing = try ImageNetDataset.folderItems(root: root, log: { _ in })
    #expect(listing.items.map(\.label) == [0, 1])
    #expect(listing.classNames == ["tench", "goldfish", "great white shark"])
    let dataset = try ImageNetDataset.loadFolder(root: root, preprocessing: .pixelRange, log: { _ in })
    #expect(dataset.inputs.shape == [2, 3, 224, 224] && dataset.labels == [0, 1])
    #expect(dataset.inputs.scalars[0] == 9 && dataset.inputs.scalars[224 * 224] == 99)
    // The JPEG went through the same pipeline as in the sample (Pillow hash of photo 10).
    let scalars = dataset.inputs.scalars
    let plane = 224 * 224
    var bytes = [UInt8](repeating: 0, count: 3 * plane)
    for p in 0..<plane { for c in 0..<3 { bytes[3 * p + c] = UInt8(scalars[3 * plane + c * plane + p]) } }
    #expect(fnv1a64(bytes) == imagenetSampleReference[10].cropped)

    // Without an index file the sorted folder names are the classes.
    try fileManager.removeItem(atPath: root + "/imagenet_class_index.json")
    #expect(try ImageNetDataset.folderItems(root: root, log: { _ in }).classNames == ["n01440764", "n01443537"])
    // A folder that is not in the index is named in the error.
    try Data(#"{"0": ["n01440764", "tench"]}"#.utf8).write(to: URL(fileURLWithPath: root + "/index.json"))
    let error = #expect(throws: DataError.self) {
      try ImageNetDataset.folderItems(root: root, classIndex: root + "/index.json", log: { _ in })
    }
    #expect(error.map(oneLineDescription) == "\(root)/n01443537: the folder is not a class of the class list (1 known)")
  }

  @Test func hdf5ImagesAndLabels() throws {
    let folder = try makeTemporaryFolder("imagenet-h5")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let sample = try ImageNetDataset.sampleItems(folder: imagenetSampleFolder).prefix(3)
    var images: [(rgb: [UInt8], width: Int, height: Int)] = []
    for item in sample {
      let photo = try JPEGImage.read(item.path)
      images.append(try ImagePreprocessing.unitRange.geometry(rgb: photo.rgb, width: photo.width, height: photo.height))
    }
    let path = folder + "/three.h5"
    try ImageNetDataset.writeHDF5(images: images, labels: sample.map(\.label), classNames: ["a", "b"], to: path)
    // The file says class_names has 2 entries but labels go up to 559: reported.
    let error = #expect(throws: DataError.self) { try ImageNetDataset.loadHDF5(path) }
    #expect(error.map(oneLineDescription) == "\(path): label 243 is not one of the 2 classes")

    let names = try ImageNetDataset.loadClassNames(imagenetSampleFolder + "/imagenet1k_clean_names.json")
    let fromFile = try ImageNetDataset.loadHDF5(path, preprocessing: .pixelRange, classNames: names)
    let fromJPEG = try ImageNetDataset.loadSample(folder: imagenetSampleFolder, preprocessing: .pixelRange)
    #expect(fromFile.inputs.shape == [3, 3, 224, 224] && fromFile.labels == [243, 559, 438])
    #expect(fromFile.inputs.scalars == Array(fromJPEG.inputs.scalars[0..<(3 * 3 * 224 * 224)]))
    let rows = try ImageNetDataset.loadHDF5(path, preprocessing: .pixelRange, classNames: names, rows: 1..<3)
    #expect(rows.labels == [559, 438] && rows.inputs.scalars == Array(fromFile.inputs.scalars[(3 * 224 * 224)...]))

    // Missing labels dataset: one line naming file and dataset.
    let noLabels = folder + "/nolabels.h5"
    try HDF5File.writeAtomically(to: noLabels) { file in
      try file.write([UInt8](repeating: 1, count: 2 * 4 * 4 * 3), shape: [2, 4, 4, 3], at: "images")
    }
    let missing = #expect(throws: DataError.self) { try ImageNetDataset.loadHDF5(noLabels) }
    #expect(missing.map(oneLineDescription) == "\(noLabels): no dataset 'labels'")
  }
}
