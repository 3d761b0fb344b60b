# lme4 1.1-31's profile() + confint() times for benchmarks/profile.py (run from the repository root).
# Prints JSON: for each model, the fastest of REPS runs of confint(profile(m)), in seconds.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
invisible(Sys.setlocale("LC_COLLATE", "C"))
reps <- as.integer(commandArgs(trailingOnly = TRUE)[1]); if (is.na(reps)) reps <- 5L
rd <- function(name, factors) {
  path <- Sys.glob(file.path("tests/reference", paste0("multi_", name, ".csv*")))[1]
  d <- read.csv(path, stringsAsFactors = FALSE, colClasses = setNames(rep("character", length(factors)), factors))
  for (v in factors) d[[v]] <- factor(d[[v]])
  d
}
sets <- list(sleep = rd("sleepstudy", "Subject"), pen = rd("penicillin", c("plate", "sample")),
             exam = rd("exam", c("school", "sex", "student")))
models <- fromJSON("tests/reference/after_fit_lme4.json")$profiles
out <- list()
for (key in names(models)) {
  m <- lmer(as.formula(models[[key]]$formula), data = sets[[models[[key]]$data]])
  out[[key]] <- min(sapply(seq_len(reps), function(i) system.time(confint(profile(m)))[["elapsed"]]))
}
cat(toJSON(out, auto_unbox = TRUE, digits = NA))
