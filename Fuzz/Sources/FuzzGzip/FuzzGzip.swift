// libFuzzer target for FuzzedReader.gzip (see FuzzEntries/FuzzDriver.swift).
import FuzzEntries

runFuzzer(.gzip)
