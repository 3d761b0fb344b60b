# lme4 1.1-31 reference values for multi-term models (nested, crossed, three levels).
# Run from the repository root:  Rscript tests/r/multi_term_reference.R
# Writes tests/reference/multi_term_lme4.json and the data sets it uses as CSV
# (tests/reference/multi_*.csv[.gz]).  Each model is fitted with lmer() and
# lme4's default control (unless a third entry names the optimizer), REML and ML.
suppressPackageStartupMessages({library(lme4); library(jsonlite); library(mlmRev)})
out_dir <- "tests/reference"
write_data <- function(d, name, gz = FALSE) {
  path <- file.path(out_dir, paste0("multi_", name, if (gz) ".csv.gz" else ".csv"))
  con <- if (gz) gzfile(path, "w") else file(path, "w")
  write.csv(d, con, row.names = FALSE); close(con)
}
data("Penicillin", "Pastes", "sleepstudy", "InstEval", package = "lme4")
data("egsingle", "ScotsSec", "Exam", package = "mlmRev")
pen <- data.frame(diameter = Penicillin$diameter, plate = as.character(Penicillin$plate),
                  sample = as.character(Penicillin$sample))
pas <- data.frame(strength = Pastes$strength, batch = as.character(Pastes$batch), cask = as.character(Pastes$cask))
slp <- data.frame(Reaction = sleepstudy$Reaction, Days = sleepstudy$Days, Subject = as.character(sleepstudy$Subject))
ins <- data.frame(y = InstEval$y, s = as.character(InstEval$s), d = as.character(InstEval$d),
                  dept = as.character(InstEval$dept), service = as.character(InstEval$service),
                  studage = as.character(InstEval$studage), lectage = as.character(InstEval$lectage))
egs <- data.frame(math = egsingle$math, year = egsingle$year, schoolid = as.character(egsingle$schoolid),
                  childid = as.character(egsingle$childid), female = as.character(egsingle$female),
                  black = as.character(egsingle$black))
sco <- data.frame(attain = ScotsSec$attain, verbal = ScotsSec$verbal, sex = as.character(ScotsSec$sex),
                  social = ScotsSec$social, primary = as.character(ScotsSec$primary),
                  second = as.character(ScotsSec$second))
exm <- data.frame(normexam = Exam$normexam, standLRT = Exam$standLRT, school = as.character(Exam$school),
                  sex = as.character(Exam$sex), schavg = Exam$schavg, student = as.character(Exam$student))
# factors with R's sorted levels (string sort in the C locale, as pandas sorts strings)
Sys.setlocale("LC_COLLATE", "C")
fac <- function(d) { for (v in names(d)) if (is.character(d[[v]])) d[[v]] <- factor(d[[v]]); d }
sets <- list(penicillin = fac(pen), pastes = fac(pas), sleepstudy = fac(slp), insteval = fac(ins),
             egsingle = fac(egs), scotssec = fac(sco), exam = fac(exm))
write_data(pen, "penicillin"); write_data(pas, "pastes"); write_data(slp, "sleepstudy")
write_data(ins, "insteval", gz = TRUE); write_data(egs, "egsingle", gz = TRUE); write_data(sco, "scotssec", gz = TRUE)
write_data(exm, "exam", gz = TRUE)
models <- list(
  penicillin = list("diameter ~ 1 + (1|plate) + (1|sample)", "penicillin"),
  pastes_nested = list("strength ~ 1 + (1|batch/cask)", "pastes"),
  pastes_inter = list("strength ~ 1 + (1|batch) + (1|batch:cask)", "pastes"),
  sleep_corr = list("Reaction ~ Days + (Days|Subject)", "sleepstudy"),
  sleep_split = list("Reaction ~ Days + (1|Subject) + (0+Days|Subject)", "sleepstudy"),
  sleep_uncorr = list("Reaction ~ Days + (Days||Subject)", "sleepstudy"),
  insteval = list("y ~ service + (1|s) + (1|d) + (1|dept:service)", "insteval"),
  egsingle_nested = list("math ~ year + (year|schoolid/childid)", "egsingle"),
  egsingle_crossed = list("math ~ year + (year|childid) + (year|schoolid)", "egsingle"),
  egsingle_3lev_int = list("math ~ year + female + black + (1|schoolid) + (1|schoolid:childid)", "egsingle"),
  scotssec = list("attain ~ verbal + sex + (1|primary) + (1|second)", "scotssec"),
  scotssec_slope = list("attain ~ verbal + sex + (verbal|primary) + (1|second)", "scotssec"),
  # lme4's default optimizer stops early on the ML fit (2.4e-3 above the optimum): the converged fit to compare
  scotssec_slope_bobyqa = list("attain ~ verbal + sex + (verbal|primary) + (1|second)", "scotssec", "bobyqa"),
  exam_two_slopes = list("normexam ~ standLRT + sex + (standLRT|school) + (0 + standLRT|school:sex)", "exam"),
  exam_uncorr2 = list("normexam ~ standLRT + (standLRT||school) + (1|school:sex)", "exam")
)
fit_one <- function(f, d, reml, optimizer = NULL) {
  t0 <- proc.time()[["elapsed"]]
  m <- if (is.null(optimizer)) lmer(as.formula(f), data = d, REML = reml) else
    lmer(as.formula(f), data = d, REML = reml, control = lmerControl(optimizer = optimizer))
  el <- proc.time()[["elapsed"]] - t0
  vc <- as.data.frame(VarCorr(m))
  list(formula = f, reml = reml, nobs = nobs(m),
       reml_criterion = if (reml) unname(getME(m, "devcomp")$cmp[["REML"]]) else NULL,
       deviance = unname(getME(m, "devcomp")$cmp[["dev"]]),
       logLik = as.numeric(logLik(m)), AIC = AIC(m),
       fixef = as.list(fixef(m)), se = as.list(sqrt(diag(as.matrix(vcov(m))))),
       theta = unname(getME(m, "theta")), theta_names = names(getME(m, "theta")),
       sigma = sigma(m), ngrps = as.list(ngrps(m)),
       varcorr = list(grp = vc$grp, var1 = vc$var1, var2 = vc$var2, vcov = vc$vcov, sdcor = vc$sdcor),
       singular = isSingular(m),
       messages = as.list(m@optinfo$conv$lme4$messages), optimizer_code = m@optinfo$conv$opt,
       feval = m@optinfo$feval, seconds = el)
}
res <- list()
for (nm in names(models)) {
  f <- models[[nm]][[1]]; d <- sets[[models[[nm]][[2]]]]
  for (reml in c(TRUE, FALSE)) {
    key <- paste0(nm, if (reml) "_reml" else "_ml")
    cat(key, "\n")
    opt <- if (length(models[[nm]]) > 2) models[[nm]][[3]] else NULL
    res[[key]] <- c(list(data = models[[nm]][[2]], optimizer = if (is.null(opt)) "nloptwrap" else opt),
                    fit_one(f, d, reml, opt))
  }
}
meta <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
             Matrix = as.character(packageVersion("Matrix")), mlmRev = as.character(packageVersion("mlmRev")),
             date = format(Sys.time(), tz = "UTC"))
writeLines(toJSON(list(meta = meta, models = res), auto_unbox = TRUE, digits = NA, null = "null", pretty = TRUE),
           file.path(out_dir, "multi_term_lme4.json"))
