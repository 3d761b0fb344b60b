# Times lme4's glmer on the GLMM benchmark models; writes benchmarks/glmer_r_timings.json.
# Run from the repository root (benchmarks/glmer.py runs it): Rscript benchmarks/glmer_bench.R [reps]
suppressMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
reps <- if (length(args)) as.integer(args[1]) else 5L
only <- if (length(args) > 1) args[-1] else NULL  # time only these models (benchmarks/glmer.py: one at a time)
d <- "tests/reference/"
cbpp <- read.csv(paste0(d, "glmer_cbpp.csv"), colClasses = c(herd = "factor", period = "factor"))
contra <- read.csv(paste0(d, "glmer_contraception.csv"),
                   colClasses = c(district = "factor", use = "factor", livch = "factor", urban = "factor"))
mmmec <- read.csv(paste0(d, "glmer_mmmec.csv"), colClasses = c(region = "factor"))
grouse <- read.csv(paste0(d, "glmer_grouseticks.csv"),
                   colClasses = c(INDEX = "factor", BROOD = "factor", YEAR = "factor", LOCATION = "factor"))
C <- use ~ age + I(age^2) + urban + livch + (1 | district)
CB <- cbind(incidence, size - incidence) ~ period + (1 | herd)
models <- list(
  contra_int = function() glmer(C, contra, family = binomial),
  contra_slope = function() glmer(use ~ age + I(age^2) + urban + livch + (urban | district), contra,
                                  family = binomial),
  contra_agq10 = function() glmer(C, contra, family = binomial, nAGQ = 10),
  cbpp_laplace = function() glmer(CB, cbpp, family = binomial),
  cbpp_agq25 = function() glmer(CB, cbpp, family = binomial, nAGQ = 25),
  mmmec_offset = function() glmer(deaths ~ uvb + offset(log(expected)) + (1 | region), mmmec, family = poisson),
  grouse = function() glmer(TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION), grouse,
                            family = poisson)
)
el <- function(expr) unname(system.time(expr)["elapsed"])
out <- list()
out_file <- if (is.null(only)) "benchmarks/glmer_r_timings.json" else "benchmarks/glmer_r_one.json"
for (nm in if (is.null(only)) names(models) else only) {
  m <- suppressMessages(suppressWarnings(models[[nm]]()))  # warm-up, and the criterion lme4 reached
  t <- sapply(seq_len(reps), function(i) el(suppressMessages(suppressWarnings(models[[nm]]()))))
  out[[nm]] <- list(seconds = min(t), minus2loglik = -2 * as.numeric(logLik(m)))
  cat(sprintf("%-14s %.3f s\n", nm, min(t)))
}
out$meta <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")), reps = reps,
                 load = as.numeric(strsplit(readLines("/proc/loadavg"), " ")[[1]][1]))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), out_file)
