import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// The 16/4 fine-tuning split of the ImageNet sample (its catalogue entry has train == test).
@Suite("Fine-tuning split")
struct FineTuneSplitTests {
  /// 20 one-value "photos" whose value and label are their index.
  static func photos() -> DatasetSplit {
    let all = Dataset(
      name: "imagenet-sample", inputs: Tensor(shape: [20, 1], scalars: (0..<20).map(Float.init)),
      labels: Array(0..<20), classNames: (0..<20).map { "c\($0)" })
    return DatasetSplit(train: all, test: all)
  }

  @Test func sixteenFourDisjointAndDeterministic() {
    let a = FineTuneSetup.fineTuningSplit(Self.photos(), dataset: "imagenet-sample", seed: 0)
    let b = FineTuneSetup.fineTuningSplit(Self.photos(), dataset: "imagenet-sample", seed: 0)
    #expect(a.train.count == 16)
    #expect(a.test.count == 4)
    #expect(a.train.labels == b.train.labels)
    #expect(a.test.labels == b.test.labels)
    #expect(Set(a.train.labels).isDisjoint(with: a.test.labels))
    #expect(Set(a.train.labels + a.test.labels) == Set(0..<20))
    // Inputs travel with their labels.
    #expect(a.test.inputs.scalars == a.test.labels.map(Float.init))
    let other = FineTuneSetup.fineTuningSplit(Self.photos(), dataset: "imagenet-sample", seed: 1)
    #expect(other.test.labels != a.test.labels)
  }

  @Test func otherDataSetsKeepTheirSplit() {
    let s = FineTuneSetup.fineTuningSplit(Self.photos(), dataset: "digits", seed: 0)
    #expect(s.train.count == 20)
    #expect(s.test.count == 20)
  }
}
