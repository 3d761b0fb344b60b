# Times lme4 on the multi-term benchmark models (nested, crossed, three levels) on this machine;
# writes benchmarks/r_timings_multi.json.  Run from the repository root: Rscript benchmarks/bench_multi.R [--quick]
# The data are the CSV files tests/r/multi_term_reference.R exported (tests/reference/multi_*.csv*).
suppressMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
quick <- "--quick" %in% args
Sys.setlocale("LC_COLLATE", "C")
rd <- function(name) {
  f <- Sys.glob(file.path("tests/reference", paste0("multi_", name, ".csv*")))[1]
  d <- read.csv(f, stringsAsFactors = FALSE)
  facs <- list(penicillin = c("plate", "sample"), pastes = c("batch", "cask"),
               insteval = c("s", "d", "dept", "service", "studage", "lectage"),
               egsingle = c("schoolid", "childid", "female", "black"), scotssec = c("sex", "primary", "second"),
               exam = c("school", "sex", "student"))[[name]]
  for (v in facs) d[[v]] <- factor(as.character(d[[v]]))
  d
}
models <- list(
  penicillin = list("diameter ~ 1 + (1|plate) + (1|sample)", "penicillin"),
  pastes_nested = list("strength ~ 1 + (1|batch/cask)", "pastes"),
  egsingle_nested = list("math ~ year + (year|schoolid/childid)", "egsingle"),
  egsingle_3lev_int = list("math ~ year + female + black + (1|schoolid) + (1|schoolid:childid)", "egsingle"),
  scotssec = list("attain ~ verbal + sex + (1|primary) + (1|second)", "scotssec"),
  scotssec_slope = list("attain ~ verbal + sex + (verbal|primary) + (1|second)", "scotssec"),
  exam_uncorr2 = list("normexam ~ standLRT + (standLRT||school) + (1|school:sex)", "exam"),
  insteval = list("y ~ service + (1|s) + (1|d) + (1|dept:service)", "insteval")
)
el <- function(expr) unname(system.time(expr)["elapsed"])
out <- list()
cache <- list()
for (nm in names(models)) {
  f <- as.formula(models[[nm]][[1]]); dn <- models[[nm]][[2]]
  if (is.null(cache[[dn]])) cache[[dn]] <- rd(dn)
  d <- cache[[dn]]
  reps <- if (nm == "insteval") 1 else if (quick) 3 else 10
  t <- sapply(seq_len(reps), function(i) el(m <<- suppressMessages(suppressWarnings(lmer(f, d)))))
  out[[paste0("fit_", nm)]] <- min(t)
  out[[paste0("crit_", nm)]] <- REMLcrit(m)
  cat(nm, min(t), "\n")
}
out$R <- R.version.string; out$lme4 <- as.character(packageVersion("lme4"))
json <- paste0("{", paste(sprintf('"%s": %s', names(out), sapply(out, function(v)
  if (is.character(v)) sprintf('"%s"', v) else sprintf("%.10g", v))), collapse = ", "), "}")
writeLines(json, "benchmarks/r_timings_multi.json")
cat(json, "\n")
