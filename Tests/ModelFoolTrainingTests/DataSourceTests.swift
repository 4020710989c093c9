import Foundation
import ModelFool
import ModelFoolData
import Testing

import ModelFoolTraining

/// One data source and one model reference per command: chosen from the flags once, recorded as
/// one flat JSON object, resolved in one place.
@Suite struct DataSourceTests {
  @Test func exactlyOneSourceIsChosen() throws {
    #expect(try DataSource.choose() == nil)
    #expect(try DataSource.choose(dataset: "german") == .dataset("german"))
    #expect(try DataSource.choose(images: "f") == .imageFolder("f"))
    #expect(try DataSource.choose(h5: "x.h5") == .hdf5("x.h5"))
    #expect(try DataSource.choose(csv: "t.csv", schema: "s.json") == .table(csv: "t.csv", schema: "s.json"))
    // `imagenet` names the streamed folder; alone it is an error, with the folder it is that folder.
    #expect(try DataSource.choose(dataset: "imagenet", dataDir: "d", limit: 4) == .ilsvrc(folder: "d", split: nil, limit: 4))
    #expect(throws: TrainingError.self) { try DataSource.choose(dataset: "imagenet") }
    // Two sources, half a table, a split or limit without a folder, a limit of 0: errors.
    #expect(throws: TrainingError.self) { try DataSource.choose(dataset: "digits", images: "f") }
    #expect(throws: TrainingError.self) { try DataSource.choose(dataset: "digits", dataDir: "d") }
    #expect(throws: TrainingError.self) { try DataSource.choose(csv: "t.csv") }
    #expect(throws: TrainingError.self) { try DataSource.choose(dataset: "digits", limit: 3) }
    #expect(throws: TrainingError.self) { try DataSource.choose(dataset: "digits", split: .val) }
    #expect(throws: TrainingError.self) { try DataSource.choose(dataDir: "d", limit: 0) }
  }

  @Test func aCommandRefusesKindsItDoesNotTake() throws {
    try DataSource.dataset("compas").check(accepted: [.dataset, .table], by: "train")
    do {
      try DataSource.imageFolder("f").check(accepted: [.dataset, .table], by: "train")
      Issue.record("an image folder was taken by train")
    } catch let error as TrainingError {
      #expect("\(error)".contains("train takes a catalogue data set or a CSV table, not an image folder"))
    }
  }

  @Test func sourcesEncodeAsOneFlatObjectAndRoundTrip() throws {
    let cases: [(DataSource, String)] = [
      (.dataset("adult"), #"{"dataset":"adult"}"#),
      (.table(csv: "a.csv", schema: "a.json"), #"{"csv":"a.csv","schema":"a.json"}"#),
      (.imageFolder("imgs"), #"{"images":"imgs"}"#),
      (.hdf5("x.h5"), #"{"h5":"x.h5"}"#),
      (.ilsvrc(folder: "d", split: .train, limit: 7), #"{"dataDir":"d","limit":7,"split":"train"}"#),
    ]
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    for (source, json) in cases {
      #expect(String(decoding: try encoder.encode(source), as: UTF8.self) == json)
      #expect(try JSONDecoder().decode(DataSource.self, from: Data(json.utf8)) == source)
    }
    // A record naming two sources, or none, does not decode.
    #expect(throws: (any Error).self) { try JSONDecoder().decode(DataSource.self, from: Data(#"{"dataset":"adult","h5":"x"}"#.utf8)) }
    #expect(throws: (any Error).self) { try JSONDecoder().decode(DataSource.self, from: Data("{}".utf8)) }
  }

  @Test func catalogueDataIsTheTestSplitCheckedAgainstTheModel() throws {
    let mlp = try ModelZoo.build(architecture: "mlp", options: ["inputs": "\(try DatasetCatalog.load("german", root: "datasets").test.exampleShape[0])", "hidden": "4", "classes": "2"])
    let data = try DataSource.dataset("german").evaluationData(for: mlp, datasetsRoot: "datasets", log: { _ in })
    #expect(data.count == (try DatasetCatalog.load("german", root: "datasets").test.count))
    // The German MLP cannot take digits: one error naming both shapes, not a trap later.
    #expect(throws: (any Error).self) { try DataSource.dataset("digits").evaluationData(for: mlp, datasetsRoot: "datasets", log: { _ in }) }
    #expect(throws: TrainingError.self) { try DataSource.ilsvrc(folder: "d", split: nil, limit: nil).evaluationData(for: mlp, log: { _ in }) }
  }

  @Test func modelReferencesParseAndResolve() throws {
    #expect(ModelReference(parsing: "zoo:digits-cnn") == .zoo("digits-cnn"))
    #expect(ModelReference(parsing: "no/such/file.h5") == .checkpoint("no/such/file.h5"))
    #expect(ModelReference(parsing: "efficientnet-lite0") == .pretrained("efficientnet-lite0"))
    #expect(ModelReference.baseModel(dataset: "compas", biased: true).checkpointPath == "runs/base/compas-biased.h5")
    #expect(ModelReference.zoo("mlp").checkpointPath == nil && ModelReference.zoo("mlp").argument == "zoo:mlp")
    let cnn = try ModelReference(parsing: "zoo:digits-cnn").resolve()
    #expect(cnn.architecture == "digits-cnn" && cnn.inputShape == [1, 28, 28])
    #expect(throws: (any Error).self) { try ModelReference(parsing: "zoo:no-such-arch").resolve() }
    #expect(throws: (any Error).self) { try ModelReference(parsing: "no/such/file.h5").resolve() }
    #expect(throws: TrainingError.self) { try ModelReference.baseModel(dataset: "no-such-set", biased: false).resolve() }
  }
}
