import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// The black-box statistics of `audit manipulation --black-box`: the surrogate's vote by hand, and
/// a COMPAS scaffold against its own biased model.
@Suite("Black-box audit statistics")
struct BlackBoxAuditTests {
  @Test func theNeighbourVoteByHand() {
    let reference = Tensor(shape: [5, 1], scalars: [0, 1, 2, 10, 11])
    let labels = [0, 0, 1, 1, 1]
    // 0.4: nearest 0, 1, 2 -> 0, 0, 1; 9: nearest 10, 11, 2 -> 1; 1.6 with k = 2: 2 (class 1) and
    // 1 (class 0) tie, the nearer voter (2) decides.
    #expect(BlackBoxAudit.neighbourVote(reference: reference, labels: labels, queries: Tensor(shape: [2, 1], scalars: [0.4, 9]), k: 3) == [0, 1])
    #expect(BlackBoxAudit.neighbourVote(reference: reference, labels: labels, queries: Tensor(shape: [1, 1], scalars: [1.6]), k: 2) == [1])
  }

  @Test func aScaffoldOpensTheSurrogateGapAndHidesItsFeatureFromTheShares() throws {
    let raw = try DatasetCatalog.load("compas", root: "datasets")
    let data = try ScaffoldData(split: raw, sensitive: "race", innocuous: .oneDecoy, seed: 0)
    var settings = ScaffoldSettings()
    (settings.repeats, settings.epochs) = (3, 4)
    let network = try ScaffoldRun.build(data: data, settings: settings, background: ScaffoldRun.background(data: data, settings: settings))
    let rows = data.split.test.evenlySpacedSubset(100), train = data.split.train.inputs
    func values(_ model: Model) throws -> [String: Float] {
      Dictionary(uniqueKeysWithValues: try BlackBoxAudit.statistics(model, data: rows, train: train, seed: 0).map { ($0.name, $0.value) })
    }
    let (f, e) = (try values(network.biased.deepCopy()), try values(network.model()))
    #expect(Set(e.keys) == Set(["surrogate gap lime", "surrogate gap kernelshap"] + ["lime", "kernelshap"].flatMap { m in
      data.split.train.features.map { "share \(m) \($0.name)" }
    }))
    // f is a rule on race: the vote of its neighbours predicts it on and off the data; the scaffold
    // answers perturbations with the decoy's coin.
    for source in ["lime", "kernelshap"] {
      #expect(e["surrogate gap \(source)"]! > f["surrogate gap \(source)"]! + 0.2, "\(source): scaffold \(e), f \(f)")
    }
    #expect(f["share lime race"]! > 0.9 && e["share lime race"]! < 0.2, "f \(f), scaffold \(e)")
    #expect(e["share lime decoy_1"]! > 0.5 && e["share kernelshap decoy_1"]! > 0.5, "scaffold \(e)")
  }
}
