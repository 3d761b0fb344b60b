# lme4 1.1-31's profile() times for benchmarks/glmer_profile.py (run from the repository root).
#   Rscript benchmarks/glmer_profile_bench.R REPS [SKIP ...]
# Prints JSON: for each model of tests/reference/glmer_profile_lme4.json not named in SKIP, the fastest of REPS
# runs of profile(m) (elapsed seconds), the data read as tests/r/glmer_profile_reference.R reads them.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
reps <- as.integer(args[1]); if (is.na(reps)) reps <- 3L
skip <- args[-1]
source("tests/r/common.R")
sets <- read_glmer_sets()
cbpp <- sets$cbpp
contra <- sets$contra
grouse <- sets$grouse
rd <- function(file) read.csv(file.path("tests/reference", file), stringsAsFactors = FALSE)
sing <- rd("glmer_profile_singular.csv")
sing$g <- factor(sing$g)
slope <- rd("glmer_profile_slope.csv")
slope$g <- factor(slope$g)
models <- fromJSON("tests/reference/glmer_profile_lme4.json")$models
out <- list()
for (key in setdiff(names(models), skip)) {
  s <- models[[key]]
  m <- suppressMessages(glmer(as.formula(s$formula), data = get(s$data), family = get(s$family), nAGQ = s$nAGQ))
  out[[key]] <- min(sapply(seq_len(reps), function(i) system.time(suppressMessages(profile(m)))[["elapsed"]]))
}
cat(toJSON(out, auto_unbox = TRUE, digits = NA))
