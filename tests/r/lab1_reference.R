# lme4 reference values for Lab 1, "the sector gap in math achievement"
# (chapters/14_lab1_sector_gap.md, hlm_course/labs/lab1.py).
#
#   Rscript tests/r/lab1_reference.R          (from the repository root)
#
# Reads OUR data/hsb.csv and the lab's sample of 40 schools,
# tests/reference/lab1_schools.csv (written from Python by
# hlm_course.labs.lab1.sample_schools: numpy's Generator cannot be replayed in
# R), builds mean_ses / cses as hlm_course.load_hsb does (school SAMPLE mean
# of ses over all its students), fits the lab's models with lme4's default
# control, records every message lme4 gives, refits with
# lmerControl(optimizer = "bobyqa") where the default warned, computes the
# Hausman test by hand (lm with school dummies vs lmer), the leave-one-school-
# out fixed effects and Cook's distances of the lab's final model, and writes
# tests/reference/lab1_lme4.json.  The Python tests never run R.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

if (!file.exists("data/hsb.csv"))
  stop("run from the repository root: Rscript tests/r/lab1_reference.R")
out_file <- "tests/reference/lab1_lme4.json"

source("tests/r/common.R")
hsb <- read_hsb()  # factor levels as hlm_course/data.py, mean_ses, cses

ids <- read.csv("tests/reference/lab1_schools.csv")$school
stopifnot(length(ids) == 40, !anyDuplicated(ids))
hs <- hsb[hsb$school %in% ids, ]          # keeps the file's row order, as Python does
rownames(hs) <- NULL

# The lab's missing values: ses blanked on every 50th row from row 8 on, mathach
# on every 70th from row 4 on (1-based; Python: positions k % 50 == 7, k % 70 == 3)
hs_na <- hs
k <- seq_len(nrow(hs_na)) - 1
hs_na$ses[k %% 50 == 7] <- NA
hs_na$mathach[k %% 70 == 3] <- NA

specs <- list(
  ri        = list(f = "mathach ~ ses + sector + (1 | school)", data = "hs"),
  ri_ctx    = list(f = "mathach ~ ses + mean_ses + sector + (1 | school)", data = "hs"),
  ri_ctx_c  = list(f = "mathach ~ cses + mean_ses + sector + (1 | school)", data = "hs"),
  rs        = list(f = "mathach ~ ses * sector + (1 + ses | school)", data = "hs"),
  rs_na     = list(f = "mathach ~ ses * sector + (1 + ses | school)", data = "hs_na"),
  ctx       = list(f = "mathach ~ (cses + mean_ses) * sector + (1 + cses | school)", data = "hs"),
  ctx_raw   = list(f = "mathach ~ (ses + mean_ses) * sector + (1 + cses | school)", data = "hs"),
  ctx_rs_ses = list(f = "mathach ~ (ses + mean_ses) * sector + (1 + ses | school)", data = "hs")
)
datasets <- list(hs = hs, hs_na = hs_na)

fit_logged <- function(formula, data, control = lmerControl()) {
  log <- character(0)
  m <- withCallingHandlers(
    lmer(as.formula(formula), data = data, REML = TRUE, control = control),
    message = function(c) { log <<- c(log, trimws(conditionMessage(c))); invokeRestart("muffleMessage") },
    warning = function(c) { log <<- c(log, paste("warning:", conditionMessage(c))); invokeRestart("muffleWarning") }
  )
  list(model = m, log = log)
}

named <- function(x) as.list(setNames(as.numeric(x), names(x)))
rows <- function(m) { m <- as.matrix(m); dimnames(m) <- NULL; m }
arr <- function(x) I(as.vector(x))

summarise <- function(m, log, spec) {
  vc <- VarCorr(m)[[1]]
  oi <- m@optinfo
  list(
    formula = spec$f, data = spec$data,
    control = oi$optimizer,
    fixef = named(fixef(m)),
    se = named(setNames(sqrt(diag(as.matrix(vcov(m)))), names(fixef(m)))),
    vcov = rows(vcov(m)),
    theta = arr(getME(m, "theta")),
    sigma = sigma(m),
    tau = rows(vc),
    tau_names = arr(colnames(vc)),
    reml_criterion = REMLcrit(m),
    loglik = as.numeric(logLik(m)),
    nobs = nobs(m), ngroups = as.integer(ngrps(m)[[1]]),
    singular = isSingular(m),
    conv_opt = oi$conv$opt,
    lme4_messages = arr(as.character(unlist(oi$conv$lme4$messages))),
    fit_log = arr(log)
  )
}

models <- list()
out <- list()
for (name in names(specs)) {
  s <- specs[[name]]
  f <- fit_logged(s$f, datasets[[s$data]])
  models[[name]] <- f$model
  out[[name]] <- summarise(f$model, f$log, s)
  cat(sprintf("%-12s REML %.6f%s%s\n", name, REMLcrit(f$model),
              if (isSingular(f$model)) " (singular)" else "",
              if (length(f$log)) paste0("  [", paste(f$log, collapse = " | "), "]") else ""))
  if (length(f$log) && any(grepl("converge", f$log))) {
    g <- fit_logged(s$f, datasets[[s$data]], lmerControl(optimizer = "bobyqa"))
    out[[paste0(name, "_bobyqa")]] <- summarise(g$model, g$log, s)
    cat(sprintf("%-12s REML %.6f with bobyqa\n", "", REMLcrit(g$model)))
  }
}

# ------------------------------------------------------------ Hausman ----
hausman <- function(data, re) {
  fe <- lm(mathach ~ ses + factor(school), data = data)
  b_fe <- unname(coef(fe)["ses"]); v_fe <- vcov(fe)["ses", "ses"]
  b_re <- unname(fixef(re)["ses"]); v_re <- as.matrix(vcov(re))["ses", "ses"]
  H <- (b_fe - b_re)^2 / (v_fe - v_re)
  list(fe = b_fe, re = b_re, v_fe = v_fe, v_re = v_re, statistic = H, df = 1L,
       p = pchisq(H, 1, lower.tail = FALSE))
}
hausman_lab <- hausman(hs, models$ri)
full_ri <- lmer(mathach ~ ses + sector + (1 | school), data = hsb)
hausman_full <- hausman(hsb, full_ri)
# within estimate = the ses coefficient of the model with mean_ses (Mundlak)
hausman_lab$re_ctx <- unname(fixef(models$ri_ctx)["ses"])

# ------------------------------------------- leave one school out (ctx) ----
m <- models$ctx
V <- as.matrix(vcov(m))
loo <- t(vapply(ids, function(j) {
  mj <- suppressMessages(suppressWarnings(lmer(formula(m), data = hs[hs$school != j, ], REML = TRUE)))
  fixef(mj)
}, numeric(length(fixef(m)))))
d <- sweep(-loo, 2, fixef(m), "+")
cook <- rowSums((d %*% solve(V)) * d) / ncol(d)
influence <- list(model = "ctx", schools = arr(as.integer(ids)), fixef_names = arr(names(fixef(m))),
                  fixef = rows(loo), cooks_distance = arr(unname(cook)),
                  note = "fixef without each school (lmer on the subset: mean_ses not recomputed); Cook's D = d' vcov(m)^-1 d / p")

meta <- list(
  R = R.version.string, lme4 = as.character(packageVersion("lme4")),
  date = format(Sys.Date()),
  hsb_sha256 = sub(" .*", "", system2("sha256sum", "data/hsb.csv", stdout = TRUE)[1]),
  schools = arr(as.integer(ids)), nobs = nrow(hs),
  na_rule = "hs_na: ses NA where (row - 1) %% 50 == 7, mathach NA where (row - 1) %% 70 == 3 (rows of hs in file order)",
  notes = arr(c("REML fits, lmerControl() default unless the name ends in _bobyqa",
                "fit_log: every message and warning lmer() gave; lme4_messages: optinfo$conv$lme4$messages"))
)

result <- list(meta = meta, models = out, hausman = hausman_lab, hausman_full = hausman_full,
               influence = influence)
writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), out_file)
stopifnot(is.list(fromJSON(out_file)))
cat("wrote", out_file, "\n")
