# Times lme4 / pbkrtest on the seed models, on this machine; writes benchmarks/r_timings.json.
# Run from the repository root: Rscript benchmarks/bench.R [--quick]
suppressMessages({library(lme4); library(pbkrtest)})
args <- commandArgs(trailingOnly = TRUE)
quick <- "--quick" %in% args
nsim <- if (quick) 100 else 1000
hsb <- read.csv("data/hsb.csv")
hsb$sector <- factor(hsb$sector, levels = c("Public", "Catholic"))
hsb$minority <- factor(hsb$minority, levels = c("No", "Yes"))
hsb$mean_ses <- ave(hsb$ses, hsb$school); hsb$cses <- hsb$ses - hsb$mean_ses
hsb$school <- factor(hsb$school)
exam <- read.csv("data/exam.csv"); exam$school <- factor(exam$school)
models <- list(
  hsb_rc = list("mathach ~ cses + (cses | school)", hsb),
  hsb_isa = list("mathach ~ cses * mean_ses + cses * sector + (cses | school)", hsb),
  hsb_minority = list("mathach ~ cses + minority + (cses + minority | school)", hsb),
  hsb_null = list("mathach ~ 1 + (1 | school)", hsb),
  exam_vi = list("normexam ~ standLRT + (1 | school)", exam),
  exam_hlm = list("normexam ~ standLRT + (standLRT | school)", exam),
  exam_vs = list("normexam ~ standLRT + (standLRT - 1 | school)", exam),
  hsb_int = list("mathach ~ cses + (1 | school)", hsb),
  hsb_int_minority = list("mathach ~ cses + minority + (1 | school)", hsb),
  hsb_rc_ml = list("mathach ~ cses + (cses | school)", hsb, FALSE),
  hsb_isa_ml = list("mathach ~ cses * mean_ses + cses * sector + (cses | school)", hsb, FALSE)
)
reps <- if (quick) 3 else 10
el <- function(expr) unname(system.time(expr)["elapsed"])
out <- list()
for (nm in names(models)) {
  f <- as.formula(models[[nm]][[1]]); d <- models[[nm]][[2]]
  reml <- if (length(models[[nm]]) > 2) models[[nm]][[3]] else TRUE
  t <- sapply(seq_len(reps), function(i) el(suppressMessages(suppressWarnings(lmer(f, d, REML = reml)))))
  out[[paste0("fit_", nm)]] <- min(t)  # the fastest of reps fits, as benchmarks/run.py takes for Python
  m <- suppressMessages(suppressWarnings(lmer(f, d, REML = reml)))
  out[[paste0("crit_", nm)]] <- if (reml) REMLcrit(m) else deviance(m)  # the criterion lme4 reached
}
small <- lmer(mathach ~ cses + (1 | school), hsb, REML = FALSE)
large <- lmer(mathach ~ cses + minority + (1 | school), hsb, REML = FALSE)
set.seed(1)
out$pb_test <- el(suppressWarnings(PBmodcomp(large, small, nsim = nsim)))
# a random-effects test with three random effects under the alternative (Lab 2): nsim / 5 simulations
small3 <- lmer(mathach ~ cses + minority + (cses | school), hsb, REML = FALSE)
large3 <- lmer(mathach ~ cses + minority + (cses + minority | school), hsb, REML = FALSE)
set.seed(1)
out$pb_test_random_q3 <- el(suppressWarnings(suppressMessages(PBmodcomp(large3, small3, nsim = nsim / 5))))
rc <- lmer(mathach ~ cses + (cses | school), hsb)
set.seed(1)
out$bootstrap_ci <- el(suppressWarnings(suppressMessages(confint(rc, method = "boot", nsim = nsim))))
out$nsim <- nsim
out$R <- R.version.string; out$lme4 <- as.character(packageVersion("lme4"))
json <- paste0("{", paste(sprintf('"%s": %s', names(out), sapply(out, function(v)
  if (is.character(v)) sprintf('"%s"', v) else sprintf("%.10g", v))), collapse = ", "), "}")
writeLines(json, "benchmarks/r_timings.json")
cat(json, "\n")
