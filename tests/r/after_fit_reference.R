# lme4 1.1-31 reference values for what a student reaches for after a fit (issue 24, item 6): profile-likelihood
# intervals (profile(), confint(method = "profile")), Wald intervals, anova() of three or more models, update().
# Run from the repository root:  Rscript tests/r/after_fit_reference.R
# Reads the data sets that tests/r/multi_term_reference.R exported (tests/reference/multi_*.csv[.gz]) and writes
# tests/reference/after_fit_lme4.json.  AFTER_FIT_TIMING_REPS (default 3) sets the repetitions of the profile
# timings (0 skips them).
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
Sys.setlocale("LC_COLLATE", "C")
out <- "tests/reference/after_fit_lme4.json"
rd <- function(name, factors) {
  path <- Sys.glob(file.path("tests/reference", paste0("multi_", name, ".csv*")))[1]
  d <- read.csv(path, stringsAsFactors = FALSE, colClasses = setNames(rep("character", length(factors)), factors))
  for (v in factors) d[[v]] <- factor(d[[v]])
  d
}
sleep <- rd("sleepstudy", "Subject")
pen <- rd("penicillin", c("plate", "sample"))
exam <- rd("exam", c("school", "sex", "student"))
reps <- as.integer(Sys.getenv("AFTER_FIT_TIMING_REPS", "3"))

mat <- function(ci) list(parameter = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]))

# -- profile and confint --------------------------------------------------------------------------------------
profiles <- list(
  sleep_corr = list("Reaction ~ Days + (Days|Subject)", "sleep"),
  sleep_split = list("Reaction ~ Days + (1|Subject) + (0 + Days|Subject)", "sleep"),
  exam_slope = list("normexam ~ standLRT + (standLRT|school)", "exam"),
  penicillin = list("diameter ~ 1 + (1|plate) + (1|sample)", "pen"),
  exam_two_terms = list("normexam ~ standLRT + (standLRT|school) + (1|school:sex)", "exam")
)
prof_out <- list()
for (key in names(profiles)) {
  f <- profiles[[key]][[1]]
  d <- get(profiles[[key]][[2]])
  m <- lmer(as.formula(f), data = d)  # REML, as lmer's default: profile() refits by ML
  pr <- profile(m)
  ci <- confint(pr, level = 0.95)
  ci90 <- confint(pr, level = 0.90)
  wald <- confint(m, method = "Wald")
  mml <- refitML(m)
  prd <- as.data.frame(pr)
  rows <- lapply(levels(prd$.par), function(p) {
    s <- prd[prd$.par == p, ]
    list(par = p, value = s[[p]], zeta = s$.zeta)
  })
  times <- if (reps > 0) sapply(seq_len(reps), function(i) system.time(profile(m))[["elapsed"]]) else numeric(0)
  prof_out[[key]] <- list(
    formula = f, data = profiles[[key]][[2]], reml = TRUE,
    ml_deviance = deviance(mml), ml_sigma = sigma(mml), ml_fixef = unname(fixef(mml)),
    profile_ci95 = mat(ci), profile_ci90 = mat(ci90), wald_ci95 = mat(wald),
    wald_na = unname(is.na(wald[, 1])), profile_points = rows,
    profile_seconds = times)
  cat(key, "\n"); print(ci)
}

# -- anova of three or more models -----------------------------------------------------------------------------
tab <- function(a) list(model = rownames(a), npar = a$npar, AIC = a$AIC, BIC = a$BIC, logLik = a$logLik,
                        deviance = a$deviance, Chisq = a$Chisq, Df = a$Df, p = a[["Pr(>Chisq)"]])
s0 <- lmer(Reaction ~ 1 + (1|Subject), sleep)
s1 <- lmer(Reaction ~ Days + (1|Subject), sleep)
s2 <- lmer(Reaction ~ Days + (Days||Subject), sleep)
s3 <- lmer(Reaction ~ Days + (Days|Subject), sleep)
p1 <- lmer(diameter ~ 1 + (1|plate), pen)
p2 <- lmer(diameter ~ 1 + (1|sample), pen)
p3 <- lmer(diameter ~ 1 + (1|plate) + (1|sample), pen)
anovas <- list(
  sleep4 = list(formulas = c("Reaction ~ 1 + (1|Subject)", "Reaction ~ Days + (1|Subject)",
                             "Reaction ~ Days + (Days||Subject)", "Reaction ~ Days + (Days|Subject)"),
                data = "sleep", given_order = c(4, 2, 1, 3), table = tab(anova(s3, s1, s0, s2))),
  penicillin3 = list(formulas = c("diameter ~ 1 + (1|plate)", "diameter ~ 1 + (1|sample)",
                                  "diameter ~ 1 + (1|plate) + (1|sample)"),
                     data = "pen", given_order = c(1, 2, 3), table = tab(anova(p1, p2, p3)))
)

# -- update ----------------------------------------------------------------------------------------------------
upd <- function(m, new, ...) {
  u <- if (is.null(new)) update(m, ...) else update(m, new, ...)
  list(formula = deparse1(formula(u)), reml = isREML(u), criterion = unname(if (isREML(u)) REMLcrit(u) else deviance(u)),
       fixef_names = names(fixef(u)), fixef = unname(fixef(u)), theta = unname(getME(u, "theta")))
}
updates <- list(
  add_term = c(list(start = "Reaction ~ Days + (Days|Subject)", data = "sleep", change = ". ~ . + I(Days^2)"),
               upd(s3, . ~ . + I(Days^2))),
  drop_term = c(list(start = "Reaction ~ Days + (Days|Subject)", data = "sleep", change = ". ~ . - Days"),
                upd(s3, . ~ . - Days)),
  swap_random = c(list(start = "Reaction ~ Days + (Days|Subject)", data = "sleep",
                       change = ". ~ . - (Days|Subject) + (1|Subject)"),
                  upd(s3, . ~ . - (Days | Subject) + (1 | Subject))),
  log_response = c(list(start = "Reaction ~ Days + (Days|Subject)", data = "sleep", change = "log(.) ~ ."),
                   upd(s3, log(.) ~ .)),
  ml = c(list(start = "Reaction ~ Days + (Days|Subject)", data = "sleep", change = "REML = FALSE"),
         upd(s3, NULL, REML = FALSE)),
  crossed_drop = c(list(start = "diameter ~ 1 + (1|plate) + (1|sample)", data = "pen",
                        change = ". ~ . - (1|sample)"), upd(p3, . ~ . - (1 | sample)))
)

res <- list(meta = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                        Matrix = as.character(packageVersion("Matrix")), date = as.character(Sys.Date()),
                        machine_cores = parallel::detectCores(), load = unname(readLines("/proc/loadavg"))),
            profiles = prof_out, anovas = anovas, updates = updates)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"), out)
cat("wrote", out, "\n")
