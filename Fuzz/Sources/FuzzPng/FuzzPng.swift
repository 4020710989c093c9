// libFuzzer target for FuzzedReader.png (see FuzzEntries/FuzzDriver.swift).
import FuzzEntries

runFuzzer(.png)
